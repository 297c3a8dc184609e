/**
 * Delivery of one row's detail events to every destination of its source that lacks them. Each
 * destination has its own mark in the detail record (how many of the events it acknowledged), so
 * a destination that failed is retried alone and a retry never re-sends what one acknowledged.
 * This is the one place detail events are sent. A destination that fails, or that the source's
 * health row lists as behind, gets the events through its own backlog (shared/delivery, the same
 * as a page): its mark is then set, the record finishes, and the other destinations never wait.
 * The backlog keeps a row's detail events even while the destination is parked (a replay
 * re-collects pages by time range, but a row's details are asked once).
 */
import type { SourceConfig } from '../components';
import { CollectorError, asCollectorError } from '../errors';
import type { TraceEvent } from '../model/row';
import { errorTags } from '../telemetry';
import type { WorkerDeps } from '../worker/deps';
import type { DetailClaim } from './claim';
import { markProgress } from './machine';
import { alreadyHandedOff, handOff } from '../delivery/hand-off';
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

export interface DetailDeliveryOptions {
  signal?: AbortSignal;
  expired?: () => CollectorError | undefined;
  /** Destinations the source's health row lists as behind: their events go to their backlog without a direct attempt. */
  behind?: readonly string[];
  /**
   * Whether an earlier attempt may have reached delivery (the answer was persisted before this
   * attempt): a destination without a mark may then hold the events in its backlog already.
   */
  retried?: boolean;
}

/**
 * Sends the record's detail events to each destination not yet marked, or hands them to its
 * backlog; returns what could not even be handed off (a storage failure), which the job retries.
 */
export async function deliverDetailEvents(
  deps: WorkerDeps, source: SourceConfig, claim: DetailClaim, events: TraceEvent[], opts: DetailDeliveryOptions = {},
): Promise<DetailDeliveryFailure[]> {
  const failures: DetailDeliveryFailure[] = [];
  const sliceId = detailSliceId(claim.record);
  // The backlog unit of the record's events: the same id the destination files them under.
  const unit = sliceId;
  const range = { startMs: claim.record.receivedMs, endMs: claim.record.receivedMs + 1 };
  const handedOff = async (destId: string, rest: TraceEvent[], hinted: boolean, lastError?: string): Promise<void> => {
    await handOff(deps, source, destId, { unit, events: rest, ...range, hinted, keepWhenParked: true, ...(lastError ? { lastError } : {}) });
    await claim.update((r) => markProgress(r, { destination: destId, delivered: events.length }, deps.clock.now()));
  };
  for (const destId of source.destinations) {
    const destination = deps.destinations.get(destId);
    if (!destination) continue;
    const from = Math.min(claim.record.marks[destId] ?? 0, events.length);
    if (from >= events.length && destId in claim.record.marks) continue;
    const pending = events.slice(from);
    const behind = opts.behind?.includes(destId) ?? false;
    try {
      // An earlier attempt (killed before its mark) may have handed the events off already.
      if (opts.retried && !(destId in claim.record.marks) && await alreadyHandedOff(deps, source, destId, { unit, events: pending, ...range, hinted: behind, keepWhenParked: true })) {
        await claim.update((r) => markProgress(r, { destination: destId, delivered: events.length }, deps.clock.now()));
        continue;
      }
      if (behind && pending.length) {
        await handedOff(destId, pending, true);
        continue;
      }
    } catch (err) {
      const raw = asCollectorError(err);
      if (raw.code === 'ClaimLost') throw raw;
      failures.push({ destination: destId, error: raw });
      continue;
    }
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
      deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'sending', error, destination: destId }));
      deps.log.log('warn', `destination ${destId} failed the detail events of a row (${error.message}); they go to its backlog, the other destinations go on`, { source: source.id, destination: destId, errorType: error.type, code: error.code });
      // What it acknowledged of this attempt stays acknowledged: the rest waits in its backlog.
      const acked = Math.min(events.length, claim.record.marks[destId] ?? from);
      try {
        await handedOff(destId, events.slice(acked), false, JSON.stringify(error.toHealth()));
      } catch (handErr) {
        const raw2 = asCollectorError(handErr);
        if (raw2.code === 'ClaimLost') throw raw2;
        failures.push({ destination: destId, error: raw2 });
      }
    }
  }
  return failures;
}
