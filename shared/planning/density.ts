/**
 * Row density observed from done live slices, for adaptive slicing (shared/budget/slicing.ts):
 * slices grow on quiet tenants (no request spent on an empty range) and catch-up and backfill
 * ranges are cut into slices of many full pages each.
 */
import { observedDensity, planBackfillSlices, parallelSlices } from '../budget';
import type { Ledger } from '../state/ledger';
import { liveSlicePrefixAt } from '../state/ledger';
import { cutSlices, MAX_WINDOW_MS, type Range } from './windows';

/** Rows per ms over the done live slices of the last `lookbackMs` before `beforeMs`, or undefined. */
export async function recentDensity(ledger: Ledger, sourceId: string, beforeMs: number, lookbackMs = 6 * 3600_000): Promise<number | undefined> {
  const done = [];
  // A key range (no filter on state: the service would scan the whole partition for it).
  for await (const s of ledger.listSlices(sourceId, { fromRowKey: liveSlicePrefixAt(beforeMs - lookbackMs), toRowKey: liveSlicePrefixAt(beforeMs) })) {
    if (s.kind === 'live' && s.state === 'done' && s.endMs <= beforeMs) done.push({ startMs: s.startMs, endMs: s.endMs, rows: s.rows });
  }
  return done.length ? observedDensity(done) : undefined;
}

/**
 * Cuts a range to collect: with a known density, into slices of at least 10 full pages each, as
 * many in parallel as keep the tenant budget busy (at about 3 s a page), never longer than the
 * API's 10 days; without one, into slices of the configured length.
 */
export function cutRange(range: Range, opts: { density: number | undefined; sliceMs: number; pageSize: number; maxSlices?: number }): Range[] {
  if (opts.density === undefined || !(opts.density > 0)) return cutSlices(range, opts.sliceMs, opts.maxSlices);
  const parallel = parallelSlices({ observedLatencyMs: 3000, remainingPages: (opts.density * (range.endMs - range.startMs)) / opts.pageSize });
  const slices = planBackfillSlices({ startMs: range.startMs, endMs: range.endMs, density: opts.density, pageSize: opts.pageSize, parallel });
  return slices.slice(0, opts.maxSlices ?? slices.length).map((s) => ({ startMs: s.startMs, endMs: s.endMs }));
}

/**
 * The range estimate may be this many times too high and a cut still keeps the >= 90% bound.
 * A range is cut into N > 1 slices only when it is expected to hold 9 x RANGE_ESTIMATE_MARGIN
 * pages per slice (see cutLiveRange).
 */
export const RANGE_ESTIMATE_MARGIN = 10;

/**
 * Cuts a live range to collect (a cold start, a catch-up after an outage, or the live edge) so it
 * is read in at most ceil(rows / pageSize) / 0.9 requests whatever its rows (issue 19):
 *
 * - N slices cost at most ceil(rows / pageSize) + N - 1 requests (each slice's last page may be
 *   partial). That is within the bound when N - 1 <= ceil(rows / pageSize) / 9, and one slice always
 *   is: its pages follow nextLinks and all but the last are full.
 * - Unknown density (a new source, or nothing done yet): the fewest slices the longest slice
 *   (`maxSliceMs`: the source's sliceLength, at most the API's 10 days) allows. At the default of
 *   10 days that is one slice for a cold start of up to 10 days. The slice is its own probe: its
 *   first page tells the density (newest rows first) and its nextLinks read the rest, so nothing is
 *   left to cut; once it is done the checkpoint folds its density in (live slice length, later
 *   catch-ups). A shorter sliceLength keeps its cut at multiples of its length, as before.
 * - Known density: N parallel slices (as many as keep the budget busy, sizing.ts) only when the
 *   range is expected to hold 9 x RANGE_ESTIMATE_MARGIN pages per slice, so the bound holds even if
 *   the range holds ten times fewer rows than the density says (a catch-up over a quiet night
 *   measured by a busy afternoon); otherwise the fewest slices `maxSliceMs` allows.
 *
 * Half-open, contiguous, covering the range exactly; cut points on whole seconds.
 */
export function cutLiveRange(range: Range, opts: { density: number | undefined; pageSize: number; maxSliceMs: number; observedLatencyMs?: number }): Range[] {
  if (!(range.endMs > range.startMs)) return [];
  const maxSliceMs = Math.min(opts.maxSliceMs, MAX_WINDOW_MS);
  if (opts.density === undefined || !(opts.density > 0)) {
    if (maxSliceMs < MAX_WINDOW_MS) return cutSlices(range, maxSliceMs);
    return planBackfillSlices({ startMs: range.startMs, endMs: range.endMs, density: 0, pageSize: opts.pageSize, maxSliceMs })
      .map((s) => ({ startMs: s.startMs, endMs: s.endMs }));
  }
  const pages = (opts.density * (range.endMs - range.startMs)) / opts.pageSize;
  const parallel = parallelSlices({ observedLatencyMs: opts.observedLatencyMs ?? 3000, remainingPages: pages });
  return planBackfillSlices({
    startMs: range.startMs, endMs: range.endMs, density: opts.density, pageSize: opts.pageSize, parallel, maxSliceMs,
    minPagesPerSlice: 9 * RANGE_ESTIMATE_MARGIN,
  }).map((s) => ({ startMs: s.startMs, endMs: s.endMs }));
}
