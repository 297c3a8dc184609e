/**
 * Delivery of one row's detail events to every destination of its source that lacks them. Each
 * destination has its own mark in the detail record (how many of the events it acknowledged), so
 * a destination that failed is retried alone and a retry never re-sends what one acknowledged.
 * This is the one place detail events are sent: the per-destination backlog (a failed destination
 * progressing on its own) plugs in here.
 */
import type { SourceConfig } from '../components';
import { CollectorError, asCollectorError } from '../errors';
import type { TraceEvent } from '../model/row';
import { errorTags } from '../telemetry';
import type { WorkerDeps } from '../worker/deps';
import type { DetailClaim } from './claim';
import { markProgress } from './machine';
import type { DetailSummary } from './store';

export interface DetailDeliveryFailure {
  destination: string;
  error: CollectorError;
}

/**
 * The `sliceId` a destination is given for a record's detail events (blob and file names, the
 * http destination's `x-mtc-slice` header): unique per record, and ending like a slice id in the
 * row's received time, so the blob and file destinations file it under the row's day.
 */
export function detailSliceId(r: Pick<DetailSummary, 'rowKey' | 'status' | 'receivedMs'>): string {
  const t = String(r.receivedMs).padStart(15, '0');
  return `D-${r.rowKey}~${r.status}-${t}-${t}`;
}

/** Sends the record's detail events to each destination not yet marked; returns the destinations that failed. */
export async function deliverDetailEvents(
  deps: WorkerDeps, source: SourceConfig, claim: DetailClaim, events: TraceEvent[], opts: { signal?: AbortSignal; expired?: () => CollectorError | undefined } = {},
): Promise<DetailDeliveryFailure[]> {
  const failures: DetailDeliveryFailure[] = [];
  const sliceId = detailSliceId(claim.record);
  for (const destId of source.destinations) {
    const destination = deps.destinations.get(destId);
    if (!destination) continue;
    const from = Math.min(claim.record.marks[destId] ?? 0, events.length);
    if (from >= events.length && destId in claim.record.marks) continue;
    const pending = events.slice(from);
    try {
      const expired = opts.expired?.();
      if (expired) throw expired;
      if (pending.length) {
        let already = 0, alreadyBytes = 0;
        await destination.send(pending, {
          sourceId: source.id, sliceId, page: 0,
          ...(opts.signal ? { signal: opts.signal } : {}),
          onProgress: async (deliveredSoFar, bytesSoFar) => {
            const delivered = deliveredSoFar - already;
            already = deliveredSoFar;
            if (bytesSoFar !== undefined) {
              deps.telemetry.count('bytesSent', bytesSoFar - alreadyBytes, { source: source.id, destination: destId });
              alreadyBytes = bytesSoFar;
            }
            await claim.update((r) => markProgress(r, { destination: destId, delivered: from + deliveredSoFar }, deps.clock.now()));
            deps.telemetry.count('detailEvents', delivered, { source: source.id, destination: destId });
          },
        });
      }
      // Every event acknowledged (or none to send): the destination has the set.
      if ((claim.record.marks[destId] ?? -1) < events.length) {
        await claim.update((r) => markProgress(r, { destination: destId, delivered: events.length }, deps.clock.now()));
      }
    } catch (err) {
      const raw = asCollectorError(err);
      if (raw.code === 'ClaimLost') throw raw;
      const e = opts.expired?.() ?? raw;
      const error = e.type === 'FirstPartyGeneric' ? e : new CollectorError('FirstPartyGeneric', e.message, { code: e.code, retryable: e.retryable, ...(e.statusCode ? { statusCode: e.statusCode } : {}), ...(e.fix ? { fix: e.fix } : {}) });
      failures.push({ destination: destId, error });
      deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'sending', error, destination: destId }));
      deps.log.log('warn', `destination ${destId} failed the detail events of a row: ${error.message}`, { source: source.id, destination: destId, errorType: error.type, code: error.code });
    }
  }
  return failures;
}
