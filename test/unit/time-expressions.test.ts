import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  clampToHistory,
  DAY_MS,
  formatDuration,
  HOUR_MS,
  MINUTE_MS,
  parseDuration,
  parseTimeSpec,
  resolveStartWithinHistory,
  resolveTimeSpec,
  SECOND_MS,
  TimeExpressionError,
  WEEK_MS,
} from '../../shared/time/expressions';

/** Wednesday 2026-11-18 14:37:12.345 UTC. */
const NOW = Date.parse('2026-11-18T14:37:12.345Z');
const at = (iso: string) => Date.parse(iso);

function throwsWith(fn: () => unknown, ...phrases: (string | RegExp)[]): TimeExpressionError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TimeExpressionError, `expected a TimeExpressionError, got ${String(caught)}`);
  for (const p of phrases) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(p)}`);
    else assert.match(caught.message, p);
  }
  return caught;
}

describe('parseDuration', () => {
  it('reads single units s, m, h, d and w', () => {
    assert.equal(parseDuration('90s', 'f'), 90 * SECOND_MS);
    assert.equal(parseDuration('10m', 'f'), 10 * MINUTE_MS);
    assert.equal(parseDuration('1h', 'f'), HOUR_MS);
    assert.equal(parseDuration('2d', 'f'), 2 * DAY_MS);
    assert.equal(parseDuration('1w', 'f'), WEEK_MS);
  });

  it('reads combinations from the largest unit to the smallest, with or without spaces', () => {
    assert.equal(parseDuration('1h30m', 'f'), 90 * MINUTE_MS);
    assert.equal(parseDuration('1d 12h', 'f'), 36 * HOUR_MS);
    assert.equal(parseDuration('1w2d3h4m5s', 'f'), WEEK_MS + 2 * DAY_MS + 3 * HOUR_MS + 4 * MINUTE_MS + 5 * SECOND_MS);
  });

  it('reads unit words as Splunk does: sec, min, hr, day, week and their long forms', () => {
    assert.equal(parseDuration('1 minute', 'f'), MINUTE_MS);
    assert.equal(parseDuration('2 hours 30 mins', 'f'), 150 * MINUTE_MS);
    assert.equal(parseDuration('1day', 'f'), DAY_MS);
    assert.equal(parseDuration('3 weeks', 'f'), 3 * WEEK_MS);
    assert.equal(parseDuration('45sec', 'f'), 45 * SECOND_MS);
  });

  it('reads ISO-8601 durations', () => {
    assert.equal(parseDuration('PT10M', 'f'), 10 * MINUTE_MS);
    assert.equal(parseDuration('P1D', 'f'), DAY_MS);
    assert.equal(parseDuration('PT1H30M', 'f'), 90 * MINUTE_MS);
    assert.equal(parseDuration('P1W', 'f'), WEEK_MS);
    assert.equal(parseDuration('P1DT2H', 'f'), 26 * HOUR_MS);
    assert.equal(parseDuration('PT0.5S', 'f'), 500);
  });

  it('reads a plain number, or a digit string, as seconds', () => {
    assert.equal(parseDuration(600, 'f'), 600 * SECOND_MS);
    assert.equal(parseDuration('600', 'f'), 600 * SECOND_MS);
    assert.equal(parseDuration(0, 'f'), 0);
    assert.equal(parseDuration(1.5, 'f'), 1500);
  });

  it('rejects text that is not a duration, naming the field and showing valid examples', () => {
    const err = throwsWith(() => parseDuration('ten minutes', 'sources[0].sliceLength'), 'sources[0].sliceLength: ', '"ten minutes" is not a duration', '"1h30m"', '"PT10M"');
    assert.equal(err.field, 'sources[0].sliceLength');
    assert.ok(!err.detail.startsWith('sources[0]'));
  });

  it('rejects empty, negative and non-finite durations', () => {
    throwsWith(() => parseDuration('', 'f'), 'f: is empty');
    throwsWith(() => parseDuration('  ', 'f'), 'is empty');
    throwsWith(() => parseDuration('-5m', 'f'), 'is negative');
    throwsWith(() => parseDuration(-1, 'f'), 'is negative');
    throwsWith(() => parseDuration(Number.NaN, 'f'), 'not a finite number');
  });

  it('rejects units out of order or repeated', () => {
    throwsWith(() => parseDuration('30m1h', 'f'), 'from the largest to the smallest');
    throwsWith(() => parseDuration('1h1h', 'f'), 'each unit once');
  });

  it('rejects months and years, which have no fixed length', () => {
    throwsWith(() => parseDuration('1mo', 'f'), 'months and years have no fixed length');
    throwsWith(() => parseDuration('2y', 'f'), 'months and years have no fixed length');
    throwsWith(() => parseDuration('1M', 'f'), 'months and years have no fixed length');
    throwsWith(() => parseDuration('P1M', 'f'), 'years and months have no fixed length');
    throwsWith(() => parseDuration('P1Y', 'f'), 'years and months have no fixed length');
  });

  it('rejects unknown units and malformed ISO durations', () => {
    throwsWith(() => parseDuration('5x', 'f'), '"x" is not a unit');
    throwsWith(() => parseDuration('100ms', 'f'), 'milliseconds are not accepted');
    throwsWith(() => parseDuration('P', 'f'), 'not a valid ISO-8601 duration');
    throwsWith(() => parseDuration('PT', 'f'), 'not a valid ISO-8601 duration');
    throwsWith(() => parseDuration('P1H', 'f'), 'not a valid ISO-8601 duration', '"PT10M"');
  });

  it('does not repeat a long value in its message', () => {
    const long = 'Zx8Q~' + 'a'.repeat(40);
    const err = throwsWith(() => parseDuration(long, 'f'), 'the value (45 characters)');
    assert.ok(!err.message.includes(long));
  });
});

describe('parseTimeSpec', () => {
  it('reads ISO-8601 times in UTC and with offsets', () => {
    assert.deepEqual(parseTimeSpec('2026-11-01T00:00:00Z', 'f'), { kind: 'absolute', ms: at('2026-11-01T00:00:00Z'), text: '2026-11-01T00:00:00Z' });
    assert.equal((parseTimeSpec('2026-11-01T02:00:00+02:00', 'f') as { ms: number }).ms, at('2026-11-01T00:00:00Z'));
    assert.equal((parseTimeSpec('2026-11-01T00:00:00-05:30', 'f') as { ms: number }).ms, at('2026-11-01T05:30:00Z'));
    assert.equal((parseTimeSpec('2026-11-01T00:00:00.1234567Z', 'f') as { ms: number }).ms, at('2026-11-01T00:00:00.123Z'));
    assert.equal((parseTimeSpec('2026-11-01T10:15Z', 'f') as { ms: number }).ms, at('2026-11-01T10:15:00Z'));
  });

  it('rejects a timestamp without a zone and shows the UTC spelling', () => {
    throwsWith(() => parseTimeSpec('2026-11-01T00:00:00', 'sources[0].start'), 'sources[0].start: ', 'has no time zone', '"2026-11-01T00:00:00Z"', '"+02:00"');
    throwsWith(() => parseTimeSpec('2026-11-01', 'f'), 'has no time zone', '"2026-11-01T00:00:00Z"');
  });

  it('rejects impossible dates and times', () => {
    throwsWith(() => parseTimeSpec('2026-02-30T00:00:00Z', 'f'), 'not a real date');
    throwsWith(() => parseTimeSpec('2026-11-01T24:00:00Z', 'f'), 'not a real date');
    throwsWith(() => parseTimeSpec('2026-11-01T00:00:00+25:00', 'f'), 'invalid zone offset');
    throwsWith(() => parseTimeSpec('2026-11-01T00:00:00Zjunk', 'f'), 'not a valid ISO-8601 time');
  });

  it('reads epoch seconds as a number or a digit string', () => {
    assert.deepEqual(parseTimeSpec(1793491200, 'f'), { kind: 'absolute', ms: 1793491200000, text: '1793491200' });
    assert.deepEqual(parseTimeSpec('1793491200', 'f'), { kind: 'absolute', ms: 1793491200000, text: '1793491200' });
  });

  it('rejects epoch values that look like milliseconds, with the value in seconds as a hint', () => {
    throwsWith(() => parseTimeSpec(1793491200000, 'f'), 'looks like epoch milliseconds', 'divide by 1000', '1793491200');
    throwsWith(() => parseTimeSpec('1793491200000', 'f'), 'looks like epoch milliseconds');
  });

  it('keeps relative expressions as text to resolve later', () => {
    for (const text of ['now', '-2d', '-3h@h', '-1w@d', '-30m', '@d', '-h@h', '-1d@d+6h', '@w1', '+1h']) {
      assert.deepEqual(parseTimeSpec(text, 'f'), { kind: 'relative', text }, text);
    }
    assert.deepEqual(parseTimeSpec('NOW', 'f'), { kind: 'relative', text: 'now' });
  });

  it('rejects malformed relative expressions and says why', () => {
    throwsWith(() => parseTimeSpec('-2x', 'f'), '"x" is not a unit');
    throwsWith(() => parseTimeSpec('@q', 'f'), '"@q" is not a snap unit');
    throwsWith(() => parseTimeSpec('-1d@d@h', 'f'), 'only one @ snap');
    throwsWith(() => parseTimeSpec('@d3', 'f'), 'only @w takes a weekday');
    throwsWith(() => parseTimeSpec('yesterday', 'f'), '"yesterday" is not a time', '"-3h@h"');
    throwsWith(() => parseTimeSpec('', 'f'), 'is empty');
  });

  it('rejects a relative step longer than 100 years, naming the field (no 500 from an absurd offset)', () => {
    throwsWith(() => parseTimeSpec('-99999999999d', 'start'), 'start: ', '-99999999999d is further than 100 years', '-90d');
    throwsWith(() => parseTimeSpec('-9'.padEnd(400, '9') + 'w', 'start'), 'start: ', 'further than 100 years');
    throwsWith(() => parseTimeSpec('+36501d', 'end'), 'end: ', 'further than 100 years');
    assert.deepEqual(parseTimeSpec('-36500d', 'f'), { kind: 'relative', text: '-36500d' });
  });

  it('reads years 0000 to 0099 as written, not as 1900 to 1999', () => {
    assert.equal((parseTimeSpec('0050-03-01T00:00:00Z', 'f') as { ms: number }).ms, Date.parse('0050-03-01T00:00:00Z'));
    assert.equal((parseTimeSpec('0004-02-29T00:00:00Z', 'f') as { ms: number }).ms, Date.parse('0004-02-29T00:00:00Z'));
    throwsWith(() => parseTimeSpec('0001-02-29T00:00:00Z', 'f'), 'not a real date');
    assert.equal((parseTimeSpec('2024-02-29T00:00:00Z', 'f') as { ms: number }).ms, Date.parse('2024-02-29T00:00:00Z'));
  });
});

describe('resolveTimeSpec', () => {
  const resolve = (text: string) => new Date(resolveTimeSpec(parseTimeSpec(text, 'f'), NOW)).toISOString();

  it('resolves now and plain offsets', () => {
    assert.equal(resolve('now'), '2026-11-18T14:37:12.345Z');
    assert.equal(resolve('-30m'), '2026-11-18T14:07:12.345Z');
    assert.equal(resolve('-2d'), '2026-11-16T14:37:12.345Z');
    assert.equal(resolve('+1h'), '2026-11-18T15:37:12.345Z');
  });

  it('snaps down in UTC after the offset', () => {
    assert.equal(resolve('-3h@h'), '2026-11-18T11:00:00.000Z');
    assert.equal(resolve('-1w@d'), '2026-11-11T00:00:00.000Z');
    assert.equal(resolve('@d'), '2026-11-18T00:00:00.000Z');
    assert.equal(resolve('@m'), '2026-11-18T14:37:00.000Z');
    assert.equal(resolve('-h@h'), '2026-11-18T13:00:00.000Z');
    assert.equal(resolve('-2days@day'), '2026-11-16T00:00:00.000Z');
  });

  it('snaps @w to Sunday and @w1 to Monday, as Splunk and Cribl do', () => {
    assert.equal(resolve('@w'), '2026-11-15T00:00:00.000Z');
    assert.equal(resolve('@w0'), '2026-11-15T00:00:00.000Z');
    assert.equal(resolve('@w1'), '2026-11-16T00:00:00.000Z');
    assert.equal(resolve('@w3'), '2026-11-18T00:00:00.000Z');
    assert.equal(resolve('@w4'), '2026-11-12T00:00:00.000Z');
  });

  it('applies offsets written after the snap', () => {
    assert.equal(resolve('-1d@d+6h'), '2026-11-17T06:00:00.000Z');
  });

  it('rejects a time that lands outside the years 0000 to 9999, naming the field', () => {
    const far = parseTimeSpec('-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d-36500d', 'start');
    throwsWith(() => resolveTimeSpec(far, NOW, 'start'), 'start: ', 'outside the years 0000 to 9999');
    throwsWith(() => resolveTimeSpec(parseTimeSpec('+36500d'.repeat(80), 'end'), NOW, 'end'), 'end: ', 'outside the years');
    assert.equal(resolveTimeSpec(parseTimeSpec('-36500d', 'f'), NOW), NOW - 36_500 * DAY_MS);
  });

  it('returns an absolute time unchanged whatever now is', () => {
    const spec = parseTimeSpec('2026-11-01T00:00:00Z', 'f');
    assert.equal(resolveTimeSpec(spec, NOW), at('2026-11-01T00:00:00Z'));
    assert.equal(resolveTimeSpec(spec, 0), at('2026-11-01T00:00:00Z'));
  });
});

describe('clampToHistory', () => {
  it('leaves a start inside the 90-day history unchanged, without a warning', () => {
    const ms = NOW - 89 * DAY_MS;
    assert.deepEqual(clampToHistory(ms, NOW), { ms });
  });

  it('moves a start older than 90 days to now - 90 days + 10 minutes and says what, what instead and why', () => {
    const asked = at('2026-01-01T00:00:00Z');
    const r = clampToHistory(asked, NOW);
    const used = NOW - 90 * DAY_MS + 10 * MINUTE_MS;
    assert.equal(r.ms, used);
    assert.ok(r.warning);
    assert.ok(r.warning.includes('2026-01-01T00:00:00.000Z'), r.warning);
    assert.ok(r.warning.includes(new Date(used).toISOString()), r.warning);
    assert.ok(r.warning.includes('90 days of history'), r.warning);
    assert.ok(r.warning.includes('+ 10 minutes of safety margin'), r.warning);
  });

  it('clamps a start exactly 90 days old, since the margin keeps requests away from the edge', () => {
    assert.equal(clampToHistory(NOW - 90 * DAY_MS, NOW).ms, NOW - 90 * DAY_MS + 10 * MINUTE_MS);
  });

  it('honours a custom history length and margin', () => {
    const r = clampToHistory(NOW - 20 * DAY_MS, NOW, { maxAgeMs: 10 * DAY_MS, marginMs: HOUR_MS });
    assert.equal(r.ms, NOW - 10 * DAY_MS + HOUR_MS);
    assert.ok(r.warning?.includes('10 days of history'));
    assert.ok(r.warning?.includes('1 hour of safety margin'));
  });

  it('refuses a margin as long as the history', () => {
    assert.throws(() => clampToHistory(0, NOW, { maxAgeMs: HOUR_MS, marginMs: HOUR_MS }), RangeError);
  });
});

describe('resolveStartWithinHistory', () => {
  it('resolves a relative start and clamps it to the history in one step', () => {
    assert.deepEqual(resolveStartWithinHistory(parseTimeSpec('-2d@d', 'f'), NOW), { ms: at('2026-11-16T00:00:00Z') });
    const old = resolveStartWithinHistory(parseTimeSpec('-100d', 'f'), NOW);
    assert.equal(old.ms, NOW - 90 * DAY_MS + 10 * MINUTE_MS);
    assert.ok(old.warning?.includes('is older than the 90 days of history'));
  });
});

describe('formatDuration', () => {
  it('writes lengths of time in words', () => {
    assert.equal(formatDuration(90 * DAY_MS), '90 days');
    assert.equal(formatDuration(10 * MINUTE_MS), '10 minutes');
    assert.equal(formatDuration(HOUR_MS + 30 * MINUTE_MS), '1 hour 30 minutes');
    assert.equal(formatDuration(1500), '1.5 seconds');
    assert.equal(formatDuration(0), '0 seconds');
  });
});
