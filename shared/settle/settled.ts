/**
 * settledUntil: every settle re-read is done (or not needed) for every instant before it. Moves
 * over contiguous done re-read slices of the last level, like the completed watermark over live
 * slices, and drops the seen-store of each bucket it passes.
 */
import type { SourceConfig } from '../components';
import type { Ledger } from '../state/ledger';
import { rescanPrefixAt } from '../state/ledger';
import type { SeenStore } from './seen-store';

export async function advanceSettled(ledger: Ledger, source: SourceConfig, seen?: SeenStore): Promise<number> {
  const last = source.settleRereadsMs.length - 1;
  const health = await ledger.getHealth(source.id);
  if (last < 0 || !health) return health?.settledUntil ?? 0;
  const cursor = await ledger.getCursor(source.id);
  let current = health.settledUntil || cursor?.startMs || 0;
  if (!current) return 0;
  const start = current;
  for await (const s of ledger.listSlices(source.id, { fromRowKey: rescanPrefixAt(last, Math.floor(current / source.settleBucketMs) * source.settleBucketMs), toRowKey: `R${last}.` })) {
    if (s.endMs <= current) continue;
    if (s.startMs > current || s.state !== 'done') break;
    current = s.endMs;
  }
  if (current > start) {
    const to = await ledger.advanceSettled(source.id, current);
    if (seen) {
      for (let b = Math.floor(start / source.settleBucketMs) * source.settleBucketMs; b < to; b += source.settleBucketMs) {
        await seen.drop(source.id, b).catch(() => 0);
      }
    }
    return to;
  }
  return current;
}
