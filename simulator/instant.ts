/**
 * Timestamps with 100-nanosecond ("tick") precision, as Exchange keeps them (the production
 * skiptoken carries `2026-03-26T15:43:20.2718704Z`, reference B.4). Epoch milliseconds times 10,000
 * would overflow a double's integer range, so an instant is a millisecond plus a tick remainder.
 */
export interface Instant {
  /** Milliseconds since the Unix epoch (UTC). */
  ms: number;
  /** Extra ticks (100 ns) inside that millisecond, 0..9999. */
  sub: number;
}

export function compareInstant(a: Instant, b: Instant): number {
  return a.ms - b.ms || a.sub - b.sub;
}

/** ISO 8601 UTC with exactly `digits` fractional digits (0, 3 or 7) and a trailing Z (unless `zulu` is false). */
export function formatInstant(t: Instant, digits: 0 | 3 | 7, zulu = true): string {
  const iso = new Date(t.ms).toISOString(); // 2026-01-01T00:00:00.000Z
  const base = iso.slice(0, 19);
  let frac = '';
  if (digits === 3) frac = '.' + iso.slice(20, 23);
  if (digits === 7) frac = '.' + iso.slice(20, 23) + String(t.sub).padStart(4, '0');
  return base + frac + (zulu ? 'Z' : '');
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses an ISO 8601 date or date-time literal: date only, minutes, seconds, up to 9 fractional
 * digits (kept to tick precision, truncated), `Z`, an offset, or no zone (taken as UTC).
 * Returns undefined when the text is not such a literal or names an impossible date.
 */
export function parseInstant(text: string): Instant | undefined {
  const m = ISO_RE.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const baseMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (!Number.isFinite(baseMs)) return undefined;
  const check = new Date(baseMs);
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const fracTicks = Number((frac + '0000000').slice(0, 7));
  let offsetMs = 0;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMs = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
  }
  return { ms: baseMs - offsetMs + Math.floor(fracTicks / 10_000), sub: fracTicks % 10_000 };
}

export function instantFromMs(ms: number): Instant {
  return { ms, sub: 0 };
}
