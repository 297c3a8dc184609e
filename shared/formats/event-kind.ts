/**
 * Trace events and detail events side by side: the kind of an event, its time, and the runs of one
 * kind in a batch (destinations that send the kinds to different places, e.g. two Logs Ingestion
 * streams or two SecOps endpoints, send run after run so the batch's order and progress hold).
 */
import { isDetailEvent, receivedMs, type TraceEvent } from '../model/row';

export type EventKind = 'trace' | 'detail';

export function eventKindOf(event: TraceEvent): EventKind {
  return isDetailEvent(event) ? 'detail' : 'trace';
}

/**
 * When the event happened, in ms: a detail event's own dateTime, else the row's receivedDateTime,
 * else when it was collected.
 */
export function eventTimeMs(event: TraceEvent): number {
  if (isDetailEvent(event)) {
    const at = receivedMs(event.detail.dateTime);
    if (!Number.isNaN(at)) return at;
  }
  const received = receivedMs(event.row?.receivedDateTime);
  return Number.isNaN(received) ? Date.parse(event.collectedAt) : received;
}

/** Consecutive items with the same key, in order: `[a, a, b, a]` -> `[[a, a], [b], [a]]`. */
export function runsBy<T, K>(items: readonly T[], keyOf: (item: T) => K): { key: K; items: T[] }[] {
  const runs: { key: K; items: T[] }[] = [];
  for (const item of items) {
    const key = keyOf(item);
    const last = runs[runs.length - 1];
    if (last && last.key === key) last.items.push(item);
    else runs.push({ key, items: [item] });
  }
  return runs;
}
