/**
 * The completed watermark's advance after a live slice is done, with the health row the page job
 * already read (issue 19: no repeated health reads). The advance is one ETag-conditional merge of
 * the health row that also carries `lastSuccessAt` when it is due, instead of a read for the
 * watermark, a read inside the compare-and-swap and a separate `lastSuccessAt` write. When another
 * writer changed the row since (412), it reads it again and retries, like Ledger.advanceWatermark.
 */
import type { HealthRow, Ledger } from './state/ledger';
import { liveSlicePrefixAt } from './state/ledger';
import { isStatus } from './state/storage';

/**
 * Moves completedUntil over contiguous done live slices, starting from `known` (the job's health
 * row; undefined reads it). `lastSuccessAt` is written in the same merge when given. Returns the
 * watermark (0 when the source has no cursor yet).
 */
export async function advanceWatermarkFrom(ledger: Ledger, sourceId: string, known: HealthRow | undefined, extra: { lastSuccessAt?: number } = {}): Promise<number> {
  let health = known ?? await ledger.getHealth(sourceId);
  for (let attempt = 0; attempt < 8; attempt++) {
    let current = health?.completedUntil || (await ledger.getCursor(sourceId))?.startMs || 0;
    if (!current) return 0;
    for await (const s of ledger.listSlices(sourceId, { fromRowKey: liveSlicePrefixAt(current), toRowKey: 'M' })) {
      if (s.kind !== 'live') continue;
      if (s.startMs !== current || s.state !== 'done') break;
      current = s.endMs;
    }
    const patch: Record<string, unknown> = {};
    if (current > (health?.completedUntil ?? 0)) patch.completedUntil = current;
    if (extra.lastSuccessAt !== undefined) patch.lastSuccessAt = extra.lastSuccessAt;
    if (!Object.keys(patch).length) return current;
    try {
      if (health) await ledger.health.updateEntity({ partitionKey: sourceId, rowKey: 'health', ...patch }, 'Merge', { etag: health.etag });
      else await ledger.health.createEntity({ partitionKey: sourceId, rowKey: 'health', state: 'Collecting', stateSince: 0, ...patch });
      return current;
    } catch (err) {
      if (!isStatus(err, 412) && !isStatus(err, 409)) throw err;
      health = await ledger.getHealth(sourceId);
    }
  }
  return (await ledger.getHealth(sourceId))?.completedUntil ?? 0;
}
