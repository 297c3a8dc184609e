/**
 * Planner arithmetic, pure. Windows are half-open [start, end) in UTC milliseconds; adjacent
 * slices share a boundary and never both own a row. Bounds fall on whole seconds.
 */
export const MAX_WINDOW_MS = 10 * 24 * 3600_000;
export const SECOND = 1000;

export interface Range { startMs: number; endMs: number }

export function floorTo(ms: number, unit: number): number {
  return Math.floor(ms / unit) * unit;
}

/**
 * Cuts [startMs, endMs) into slices of at most `sliceMs`, cut at multiples of `sliceMs` (UTC), so
 * slice boundaries are stable whatever the planning moment. The first and last slice may be shorter.
 */
export function cutSlices(range: Range, sliceMs: number, maxSlices = Number.POSITIVE_INFINITY): Range[] {
  if (!(sliceMs > 0)) throw new RangeError('sliceMs must be positive');
  const out: Range[] = [];
  let s = range.startMs;
  while (s < range.endMs && out.length < maxSlices) {
    const e = Math.min(range.endMs, floorTo(s, sliceMs) + sliceMs);
    out.push({ startMs: s, endMs: e });
    s = e;
  }
  return out;
}

/**
 * The next live window for a source: from its cursor up to `now - collectionDelay` (floored to a
 * second), at most 10 days (the API's window limit) and at most `maxSlices` slices.
 * Returns no slices when the window would be empty.
 */
export function nextLiveWindow(args: {
  scheduledUntil: number;
  now: number;
  collectionDelayMs: number;
  sliceMs: number;
  maxSlices?: number;
}): { slices: Range[]; scheduledUntil: number } {
  const target = floorTo(args.now - args.collectionDelayMs, SECOND);
  const end = Math.min(target, args.scheduledUntil + MAX_WINDOW_MS);
  if (end <= args.scheduledUntil) return { slices: [], scheduledUntil: args.scheduledUntil };
  const slices = cutSlices({ startMs: args.scheduledUntil, endMs: end }, Math.min(args.sliceMs, MAX_WINDOW_MS), args.maxSlices ?? 500);
  return { slices, scheduledUntil: slices.length ? slices[slices.length - 1]!.endMs : args.scheduledUntil };
}
