/**
 * Row density observed from done live slices, for adaptive slicing (shared/budget/slicing.ts):
 * slices grow on quiet tenants (no request spent on an empty range) and catch-up and backfill
 * ranges are cut into slices of many full pages each.
 */
import { observedDensity, planBackfillSlices, parallelSlices } from '../budget';
import type { Ledger } from '../state/ledger';
import { liveSlicePrefixAt } from '../state/ledger';
import { cutSlices, type Range } from './windows';

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
