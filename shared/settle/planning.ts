/**
 * Settle-and-reconcile planning: every settle bucket (default 1 h, aligned to UTC) is re-read at
 * configured ages after it closes (default +1 h, +6 h, +24 h), once its live collection is done.
 * A re-read is a `rescan` slice, collected at the lowest priority of the tenant budget. A level is
 * skipped (recorded done, no request) when the bucket's live read itself happened after that age:
 * re-reading it again would find nothing new.
 */
import type { SourceConfig } from '../components';
import type { Ledger, PendingSlice } from '../state/ledger';
import { liveSlicePrefixAt, rescanSliceId } from '../state/ledger';

/** Buckets planned per level in one planning run (bounds the work of a catch-up). */
export const MAX_BUCKETS_PER_RUN = 48;

const LIVE_DONE_MEMO = new Map<string, Map<number, number>>();

export interface RescanPlan {
  pending: PendingSlice[];
  rescanUntil: number[];
}

/**
 * `known(bucket)`: when the bucket's live read finished, from the planner's checkpoint (its finish
 * time when late, 0 when not, undefined when unknown), so the bucket's live slices are not read
 * again (issue 19: planner reads flat with the age of the ledger).
 */
export async function planRescans(
  ledger: Ledger, source: SourceConfig, cursor: { startMs: number; rescanUntil: number[] }, completedUntil: number, now: number,
  maxPending = Number.POSITIVE_INFINITY, known?: (bucket: number) => number | undefined,
): Promise<RescanPlan> {
  const ages = source.settleRereadsMs;
  const B = source.settleBucketMs;
  const rescanUntil = ages.map((_, k) => cursor.rescanUntil[k] || Math.floor(cursor.startMs / B) * B);
  const pending: PendingSlice[] = [];
  // Per process and source, the last live completion per bucket: each level of a bucket comes due
  // at its own age, and the bucket's live slices are read once, not once per level (issue 19).
  const memoKey = `${ledger.prefix}/${source.id}`;
  const liveDoneAt = LIVE_DONE_MEMO.get(memoKey) ?? new Map<number, number>();
  LIVE_DONE_MEMO.set(memoKey, liveDoneAt);
  const lastLiveDone = async (bucket: number): Promise<number> => {
    let at = liveDoneAt.get(bucket) ?? known?.(bucket);
    if (at === undefined) {
      at = 0;
      // The bucket's own live slices, then the one that covers its start when the first starts
      // later (slices are contiguous): looked for further back each time (a cold start's slice can
      // be 10 days long), each query returning only the slices that start in its range.
      let firstStart = bucket + B;
      for await (const s of ledger.listSlices(source.id, { fromRowKey: liveSlicePrefixAt(bucket), toRowKey: liveSlicePrefixAt(bucket + B) })) {
        if (s.kind !== 'live') continue;
        at = Math.max(at, s.updatedAt);
        firstStart = Math.min(firstStart, s.startMs);
      }
      let hi = bucket;
      for (let back = B; firstStart > bucket && hi > cursor.startMs; back *= 2) {
        const lo = Math.max(0, bucket - back);
        let found = false;
        for await (const s of ledger.listSlices(source.id, { fromRowKey: liveSlicePrefixAt(lo), toRowKey: liveSlicePrefixAt(hi) })) {
          if (s.kind === 'live' && s.endMs > bucket) { at = Math.max(at, s.updatedAt); found = true; }
        }
        if (found || lo === 0) break;
        hi = lo;
      }
      liveDoneAt.set(bucket, at);
      // Keep the buckets the oldest age can still ask for (and a margin).
      const keep = bucket - (Math.max(0, ...ages) + 4 * B);
      for (const b of liveDoneAt.keys()) if (b < keep) liveDoneAt.delete(b);
    }
    return at;
  };
  for (let k = 0; k < ages.length; k++) {
    let bucket = rescanUntil[k]!;
    for (let n = 0; n < MAX_BUCKETS_PER_RUN && pending.length < maxPending; n++) {
      const end = bucket + B;
      if (end > completedUntil || now < end + ages[k]!) break;
      const startMs = Math.max(bucket, cursor.startMs);
      // Levels run in order: level k of a bucket waits for level k-1, whose record it builds on.
      if (k > 0 && startMs < end) {
        const before = await ledger.getSlice(source.id, rescanSliceId(k - 1, startMs, end));
        if (!before || before.state !== 'done') break;
      }
      if (startMs < end) {
        const skip = (await lastLiveDone(bucket)) >= end + ages[k]!;
        pending.push({ id: rescanSliceId(k, startMs, end), startMs, endMs: end, kind: 'rescan', ...(skip ? { skip: true } : {}) });
      }
      bucket = end;
    }
    rescanUntil[k] = bucket;
  }
  return { pending, rescanUntil };
}
