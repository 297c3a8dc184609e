/**
 * Durations and points in time as users write them in the configuration and in backfill requests.
 *
 * - Durations: `"90s"`, `"10m"`, `"1h30m"`, `"2d"`, `"1w"`, ISO-8601 (`"PT10M"`, `"P1D"`), or a plain
 *   number of seconds (`600`, `"600"`).
 * - Points in time: ISO-8601 with a zone (`2026-11-01T00:00:00Z`, `2026-11-01T02:00:00+02:00`), epoch
 *   seconds (`1793491200`, `"1793491200"`), or relative expressions in the Splunk/Cribl syntax:
 *   `now`, `-2d`, `-30m`, `-3h@h`, `-1w@d`, `@d`, `-1d@d+6h`. Snapping rounds down in UTC.
 *
 * A timestamp without a zone is rejected (it is ambiguous); see docs/configuration.md.
 * Every function here is pure: "now" is always passed in (from a Clock), never read.
 */
import type { TimeSpec } from '../config-common/types';

export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
export const WEEK_MS = 7 * DAY_MS;

/** How far back the message trace APIs serve rows (Graph: start ≥ now − 90 days). */
export const MESSAGE_TRACE_HISTORY_MS = 90 * DAY_MS;
/** Default safety margin kept inside the 90-day history, so a request is not refused while it is in flight. */
export const DEFAULT_HISTORY_MARGIN_MS = 10 * MINUTE_MS;

const DURATION_EXAMPLES = '"90s", "10m", "1h30m", "2d", "1w", ISO-8601 "PT10M" or "P1D", or a number of seconds such as 600';
const TIME_EXAMPLES =
  'an ISO-8601 time with a zone such as "2026-11-01T00:00:00Z" or "2026-11-01T02:00:00+02:00", epoch seconds such as 1793491200, ' +
  'or a relative time such as "now", "-2d", "-30m", "-3h@h", "-1w@d" or "@d"';

/**
 * A duration or time expression that could not be parsed. `detail` says what is wrong and how to
 * fix it without the field name (the config loader puts the JSON path in front); `message` is
 * `<field>: <detail>`.
 */
export class TimeExpressionError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'TimeExpressionError';
  }
}

type Unit = 's' | 'm' | 'h' | 'd' | 'w';
const UNIT_MS: Record<Unit, number> = { s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS, w: WEEK_MS };
const UNIT_ORDER: Unit[] = ['w', 'd', 'h', 'm', 's'];
const UNIT_WORDS: Record<string, Unit> = {
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
  w: 'w', wk: 'w', wks: 'w', week: 'w', weeks: 'w',
};

/** The unit a word stands for ("m", "min", "minutes" → m). "M" is a month, so it is not a unit. */
function unitOf(word: string): Unit | undefined {
  if (word === 'M') return undefined;
  return Object.hasOwn(UNIT_WORDS, word.toLowerCase()) ? UNIT_WORDS[word.toLowerCase()] : undefined;
}

/** Shows a user's value in a message: short values quoted, long ones only by length (they may be pasted secrets). */
function shown(input: unknown): string {
  if (typeof input === 'number') return String(input);
  if (typeof input !== 'string') return `a ${input === null ? 'null' : Array.isArray(input) ? 'list' : typeof input}`;
  if (input.length <= 32 && !/[\r\n]/.test(input)) return JSON.stringify(input);
  return `the value (${input.length} characters)`;
}

/**
 * Parses a duration into milliseconds. Accepts `"90s"`, `"10m"`, `"1h"`, `"2d"`, `"1w"`, combinations
 * from the largest unit to the smallest (`"1h30m"`, `"1d 12h"`), ISO-8601 durations without years or
 * months (`"PT10M"`, `"P1D"`, `"P1W"`, `"PT1H30M"`), and a plain number meaning seconds (`600` or `"600"`).
 * Throws TimeExpressionError naming `field`, with valid examples.
 */
export function parseDuration(input: string | number, field: string): number {
  if (typeof input === 'number') return secondsToMs(input, input, field);
  if (typeof input !== 'string') {
    throw new TimeExpressionError(field, `must be a duration such as ${DURATION_EXAMPLES}; got ${shown(input)}`);
  }
  const text = input.trim();
  if (text === '') throw new TimeExpressionError(field, `is empty; write a duration such as ${DURATION_EXAMPLES}`);
  if (/^\d+(\.\d+)?$/.test(text)) return secondsToMs(Number(text), input, field);
  if (text.startsWith('-')) {
    throw new TimeExpressionError(field, `${shown(input)} is negative; a duration is a length of time such as ${DURATION_EXAMPLES}`);
  }
  if (/^P/i.test(text)) return parseIsoDuration(text, input, field);
  return parseUnitDuration(text, input, field);
}

function secondsToMs(seconds: number, input: unknown, field: string): number {
  if (!Number.isFinite(seconds)) throw new TimeExpressionError(field, `${shown(input)} is not a finite number of seconds; write a duration such as ${DURATION_EXAMPLES}`);
  if (seconds < 0) throw new TimeExpressionError(field, `${shown(input)} is negative; a duration is a length of time such as ${DURATION_EXAMPLES}`);
  return Math.round(seconds * SECOND_MS);
}

function parseUnitDuration(text: string, input: string, field: string): number {
  const compact = text.replace(/\s+/g, '');
  if (!/^(\d+(\.\d+)?[a-zA-Z]+)+$/.test(compact)) {
    throw new TimeExpressionError(field, `${shown(input)} is not a duration; write a number with a unit (s, m, h, d, w), e.g. ${DURATION_EXAMPLES}`);
  }
  let total = 0;
  let lastRank = -1;
  for (const m of compact.matchAll(/(\d+(?:\.\d+)?)([a-zA-Z]+)/g)) {
    const unit = unitOf(m[2]);
    const rank = unit === undefined ? -1 : UNIT_ORDER.indexOf(unit);
    if (unit === undefined) {
      const hint = /^(M|mo|mon|months?|y|yrs?|years?)$/i.test(m[2])
        ? 'months and years have no fixed length and are not accepted'
        : /^(ms|msec)$/.test(m[2])
          ? 'milliseconds are not accepted'
          : `"${m[2]}" is not a unit`;
      throw new TimeExpressionError(field, `${shown(input)}: ${hint}; use s (seconds), m (minutes), h (hours), d (days) or w (weeks), e.g. ${DURATION_EXAMPLES}`);
    }
    if (rank <= lastRank) {
      throw new TimeExpressionError(field, `${shown(input)}: write each unit once, from the largest to the smallest, e.g. "1d12h" or "1h30m"`);
    }
    lastRank = rank;
    total += Number(m[1]) * UNIT_MS[unit];
  }
  return Math.round(total);
}

function parseIsoDuration(text: string, input: string, field: string): number {
  const m = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.toUpperCase());
  if (!m || text.toUpperCase() === 'P' || /T$/i.test(text)) {
    const hint = /^P(\d+Y|\d+M)/i.test(text) ? ' (years and months have no fixed length and are not accepted; use days or weeks)' : '';
    throw new TimeExpressionError(field, `${shown(input)} is not a valid ISO-8601 duration${hint}; e.g. "PT10M", "PT1H30M", "P1D", "P1W", or ${DURATION_EXAMPLES}`);
  }
  const [, w, d, h, min, s] = m;
  return Math.round(
    Number(w ?? 0) * WEEK_MS + Number(d ?? 0) * DAY_MS + Number(h ?? 0) * HOUR_MS + Number(min ?? 0) * MINUTE_MS + Number(s ?? 0) * SECOND_MS,
  );
}

/** The longest single step of a relative time ("-36500d"): a longer one is a typo, not a time. */
export const MAX_RELATIVE_STEP_MS = 36_500 * DAY_MS;
/** Resolved times must lie in the years ISO-8601 writes with four digits, 0000 to 9999. */
export const MIN_TIME_MS = utc(0, 0, 1, 0, 0, 0);
export const MAX_TIME_MS = utc(9999, 11, 31, 23, 59, 59) + 999;

/** Epoch seconds beyond this (year 5138) are almost certainly milliseconds. */
const MAX_EPOCH_SECONDS = 1e11;

/**
 * Parses a point in time as written in the configuration (see the module comment). Absolute forms
 * are resolved now; relative forms keep their text and are resolved by `resolveTimeSpec` against the
 * clock's now. Throws TimeExpressionError naming `field`.
 */
export function parseTimeSpec(input: string | number, field: string): TimeSpec {
  if (typeof input === 'number') return epochSeconds(input, String(input), field);
  if (typeof input !== 'string') throw new TimeExpressionError(field, `must be a time: ${TIME_EXAMPLES}; got ${shown(input)}`);
  const text = input.trim();
  if (text === '') throw new TimeExpressionError(field, `is empty; write ${TIME_EXAMPLES}`);
  if (/^\d+(\.\d+)?$/.test(text)) return epochSeconds(Number(text), text, field);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) return { kind: 'absolute', ms: parseIsoTimestamp(text, input, field), text };
  if (text.toLowerCase() === 'now' || /^[+\-@]/.test(text)) {
    const problem = relativeProblem(text);
    if (problem) throw new TimeExpressionError(field, `${shown(input)} is not a valid relative time (${problem}); e.g. "now", "-2d", "-30m", "-3h@h", "-1w@d", "@d"`);
    return { kind: 'relative', text: text.toLowerCase() === 'now' ? 'now' : text };
  }
  throw new TimeExpressionError(field, `${shown(input)} is not a time; write ${TIME_EXAMPLES}`);
}

function epochSeconds(seconds: number, text: string, field: string): TimeSpec {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new TimeExpressionError(field, `${shown(text)} is not a valid epoch time; write epoch seconds such as 1793491200, or ${TIME_EXAMPLES}`);
  }
  if (seconds >= MAX_EPOCH_SECONDS) {
    throw new TimeExpressionError(
      field,
      `${shown(text)} looks like epoch milliseconds; epoch times here are in seconds, so divide by 1000 (${Math.floor(seconds / 1000)})`,
    );
  }
  return { kind: 'absolute', ms: Math.round(seconds * SECOND_MS), text };
}

function parseIsoTimestamp(text: string, input: string, field: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?(Z|z|[+-]\d{2}:?\d{2})?$/.exec(text);
  if (!m) {
    throw new TimeExpressionError(field, `${shown(input)} is not a valid ISO-8601 time; write it like "2026-11-01T00:00:00Z" or "2026-11-01T02:00:00+02:00"`);
  }
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (!zone) {
    throw new TimeExpressionError(
      field,
      `${shown(input)} has no time zone, so it is ambiguous; add "Z" for UTC (e.g. "${y}-${mo}-${d}T${h ?? '00'}:${mi ?? '00'}:${s ?? '00'}Z") or an offset such as "+02:00"`,
    );
  }
  if (h === undefined) {
    throw new TimeExpressionError(field, `${shown(input)} needs a time of day; write it like "${y}-${mo}-${d}T00:00:00Z"`);
  }
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s ?? '0'].map(Number);
  const daysInMonth = new Date(utc(year, month, 0, 0, 0, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    throw new TimeExpressionError(field, `${shown(input)} is not a real date and time; check the month, day, hour, minute and second`);
  }
  let offsetMin = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const zm = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    const oh = Number(zm[2]);
    const om = Number(zm[3]);
    if (oh > 23 || om > 59) throw new TimeExpressionError(field, `${shown(input)} has an invalid zone offset; use "Z" or an offset such as "+02:00"`);
    offsetMin = (zm[1] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fracMs = frac ? Math.floor(Number(frac) * 1000) : 0;
  return utc(year, month - 1, day, hour, minute, second) + fracMs - offsetMin * MINUTE_MS;
}

/** Date.UTC without its mapping of years 0–99 to 1900–1999. */
function utc(year: number, monthIndex: number, day: number, hour: number, minute: number, second: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

interface RelativeStep {
  kind: 'offset' | 'snap';
  /** offset: signed milliseconds. */
  ms?: number;
  /** snap: the unit, and for weeks the weekday (0 = Sunday … 6 = Saturday). */
  unit?: Unit;
  weekday?: number;
}

/** Parses a relative expression into steps, or returns a description of what is wrong. */
function parseRelative(text: string): RelativeStep[] | string {
  if (text.toLowerCase() === 'now') return [];
  const steps: RelativeStep[] = [];
  let rest = text;
  let snapped = false;
  while (rest.length > 0) {
    const off = /^([+-])(\d*)([a-zA-Z]+)/.exec(rest);
    if (off) {
      const unit = unitOf(off[3]);
      if (unit === undefined) return `"${off[3]}" is not a unit; use s, m, h, d or w`;
      const n = off[2] === '' ? 1 : Number(off[2]);
      if (!(n * UNIT_MS[unit] <= MAX_RELATIVE_STEP_MS)) return `${off[0]} is further than 100 years (36500d); write a time within the API's history, such as -90d`;
      steps.push({ kind: 'offset', ms: (off[1] === '-' ? -1 : 1) * n * UNIT_MS[unit] });
      rest = rest.slice(off[0].length);
      continue;
    }
    const snap = /^@([a-zA-Z]+)(\d?)/.exec(rest);
    if (snap) {
      if (snapped) return 'only one @ snap is allowed';
      const unit = unitOf(snap[1]);
      if (unit === undefined) return `"@${snap[1]}" is not a snap unit; use @s, @m, @h, @d or @w`;
      if (snap[2] !== '' && unit !== 'w') return `only @w takes a weekday number (@w0 = Sunday … @w6 = Saturday)`;
      const weekday = snap[2] === '' ? 0 : Number(snap[2]) % 7;
      steps.push({ kind: 'snap', unit, weekday });
      snapped = true;
      rest = rest.slice(snap[0].length);
      continue;
    }
    return `unexpected "${rest.slice(0, 8)}"; write [+|-]<number><unit> steps and at most one @<unit> snap`;
  }
  if (steps.length === 0) return 'it is empty';
  return steps;
}

function relativeProblem(text: string): string | undefined {
  const r = parseRelative(text);
  return typeof r === 'string' ? r : undefined;
}

function snapDown(ms: number, unit: Unit, weekday: number): number {
  if (unit !== 'w') return Math.floor(ms / UNIT_MS[unit]) * UNIT_MS[unit];
  const dayStart = Math.floor(ms / DAY_MS) * DAY_MS;
  const dow = new Date(dayStart).getUTCDay();
  return dayStart - ((dow - weekday + 7) % 7) * DAY_MS;
}

/**
 * The epoch milliseconds a TimeSpec stands for when "now" is `nowMs`. Throws TimeExpressionError
 * naming `field` when the time falls outside the years 0000 to 9999.
 */
export function resolveTimeSpec(spec: TimeSpec, nowMs: number, field = 'time'): number {
  let t: number;
  if (spec.kind === 'absolute') {
    t = spec.ms;
  } else {
    const steps = parseRelative(spec.text.trim());
    if (typeof steps === 'string') throw new TimeExpressionError(field, `"${spec.text}" is not a valid relative time (${steps})`);
    t = nowMs;
    for (const step of steps) {
      t = step.kind === 'offset' ? t + step.ms! : snapDown(t, step.unit!, step.weekday ?? 0);
    }
  }
  if (!(t >= MIN_TIME_MS && t <= MAX_TIME_MS)) {
    throw new TimeExpressionError(field, `${shown(spec.text)} is outside the years 0000 to 9999; write ${TIME_EXAMPLES}`);
  }
  return t;
}

/** Human text for a length of time, e.g. "90 days", "10 minutes", "1 hour 30 minutes", "1.5 seconds". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0 seconds';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const [unit, size] of [['day', DAY_MS], ['hour', HOUR_MS], ['minute', MINUTE_MS]] as const) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
      rest -= n * size;
    }
  }
  if (rest > 0) {
    const s = rest / SECOND_MS;
    parts.push(`${s} second${s === 1 ? '' : 's'}`);
  }
  return sign + parts.join(' ');
}

/**
 * Keeps a start time inside the API's history. A start older than `now − maxAge` (90 days) is moved
 * to `now − maxAge + margin` (margin 10 minutes by default), with a warning that says what was asked,
 * what is used instead, and why.
 */
export function clampToHistory(
  ms: number,
  nowMs: number,
  opts: { maxAgeMs?: number; marginMs?: number } = {},
): { ms: number; warning?: string } {
  const maxAgeMs = opts.maxAgeMs ?? MESSAGE_TRACE_HISTORY_MS;
  const marginMs = opts.marginMs ?? DEFAULT_HISTORY_MARGIN_MS;
  if (!(maxAgeMs > 0) || !(marginMs >= 0) || marginMs >= maxAgeMs) {
    throw new RangeError(`clampToHistory: maxAgeMs must be positive and marginMs in [0, maxAgeMs); got ${maxAgeMs} and ${marginMs}`);
  }
  const earliest = nowMs - maxAgeMs + marginMs;
  if (ms >= earliest) return { ms };
  return {
    ms: earliest,
    warning:
      `start ${new Date(ms).toISOString()} is older than the ${formatDuration(maxAgeMs)} of history the message trace API keeps; ` +
      `using ${new Date(earliest).toISOString()} instead (now − ${formatDuration(maxAgeMs)} + ${formatDuration(marginMs)} of safety margin). ` +
      `Rows older than that cannot be collected.`,
  };
}

/**
 * Resolves a source's `start` against now and keeps it inside the API's history: resolveTimeSpec
 * followed by clampToHistory (the warning, if any, is for the logs and the source's health).
 */
export function resolveStartWithinHistory(
  spec: TimeSpec,
  nowMs: number,
  opts: { maxAgeMs?: number; marginMs?: number } = {},
): { ms: number; warning?: string } {
  return clampToHistory(resolveTimeSpec(spec, nowMs), nowMs, opts);
}
