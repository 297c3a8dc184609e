/**
 * Admission (issue 17): the rows of a page being recorded that qualify for detail enrichment get a
 * detail record and a detail job. Called once from the page worker (learnPage, before the page's
 * first send and so before it is recorded): a crash at any point before the record is written
 * leaves the page unrecorded, its job is redelivered, and admission runs again. The records are conditional creates keyed by
 * (row key, status), so a repeat (a redelivered page, a settle re-read of the same rows) makes no
 * second record, and a job is sent again for each record that is still pending (a duplicate job
 * is a no-op at the detail job's guard). A status change (pending → failed) is a new key, so a
 * new record.
 */
import type { SourceConfig } from '../components';
import type { DetailOptions } from '../config/types';
import { isDetailEvent, receivedMs, rowKey, type MessageTraceRow, type TraceEvent } from '../model/row';
import { detailJob } from '../queue/jobs';
import type { SliceRow } from '../state/ledger';
import type { WorkerDeps } from '../worker/deps';
import { newDetailRecord, utcDay, type DetailRecord } from './store';

/** Detail jobs sent at once (each a queue request). */
const SEND_CONCURRENCY = 16;
/**
 * A new detail job waits this long before it asks the budget: the page's continuation and the
 * rest of its slice ask first, so detail requests do not take the slots a page about to come
 * needs (rolling-window slots cannot be taken back).
 */
export const DETAIL_START_DELAY_MS = 60_000;

const compiled = new WeakMap<readonly string[], RegExp[]>();

function patterns(list: readonly string[]): RegExp[] {
  let out = compiled.get(list);
  if (!out) {
    out = list.map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i'));
    compiled.set(list, out);
  }
  return out;
}

function matchesAny(address: unknown, list: readonly string[]): boolean {
  if (!list.length) return true;
  if (typeof address !== 'string' || address === '') return false;
  const a = address.trim().toLowerCase();
  return patterns(list).some((re) => re.test(a));
}

/** The status (lowercase) a row is enriched for, or undefined when it does not qualify. */
export function qualifyingStatus(row: Pick<MessageTraceRow, 'status' | 'senderAddress' | 'recipientAddress'>, opts: DetailOptions): string | undefined {
  const status = String(row.status ?? '').toLowerCase();
  if (!status || !opts.statuses.some((s) => s.toLowerCase() === status)) return undefined;
  if (!matchesAny(row.senderAddress, opts.senders) || !matchesAny(row.recipientAddress, opts.recipients)) return undefined;
  return status.replace(/[^a-z0-9]/g, '').slice(0, 40) || undefined;
}

export interface Admitted {
  /** Records made now, by state. */
  pending: number;
  skippedCap: number;
  skippedRetention: number;
  /** Records that existed already (a repeat). */
  existing: number;
  /** Detail jobs sent. */
  jobs: number;
}

/**
 * Makes the detail records of a page's qualifying rows and sends their jobs. A row older than the
 * source's detail retention is recorded as skipped (retention); once the day's request cap is
 * reached, as skipped (cap), with no job: the cap counts requests, and none will be made today.
 */
export async function admitDetails(deps: WorkerDeps, source: SourceConfig, slice: Pick<SliceRow, 'id' | 'kind'>, events: readonly TraceEvent[]): Promise<Admitted> {
  const done: Admitted = { pending: 0, skippedCap: 0, skippedRetention: 0, existing: 0, jobs: 0 };
  const opts = source.details;
  const store = deps.details;
  if (!opts?.enabled || !store || !events.length) return done;
  const now = deps.clock.now();
  const byKey = new Map<string, Omit<DetailRecord, 'etag'>>();
  for (const e of events) {
    if (isDetailEvent(e)) continue;
    const status = qualifyingStatus(e.row, opts);
    const ms = receivedMs(e.row.receivedDateTime);
    if (!status || !Number.isFinite(ms)) continue;
    const fields = { sourceId: source.id, receivedMs: ms, rowKey: rowKey(source.tenantId, e.row), status, collectedAt: now, collectedBy: slice.kind, row: e.row };
    const r = newDetailRecord(fields, now);
    byKey.set(r.key, r);
  }
  if (!byKey.size) return done;
  const today = utcDay(now);
  const capReached = (await store.getDay(source.id, today)).requests >= opts.dailyRequestCap;
  const records = [...byKey.values()].map((r) => {
    if (now - r.receivedMs > opts.retentionMs) return { ...r, state: 'skipped' as const, skipReason: 'retention' as const, doneAt: now };
    if (capReached) return { ...r, state: 'skipped' as const, skipReason: 'cap' as const, doneAt: now };
    return r;
  });
  const pending = records.filter((r) => r.state === 'pending');
  // The sweep's mark first: a record it must look at is never created behind it.
  if (pending.length) await store.lowerPendingFrom(source.id, Math.min(...pending.map((r) => r.receivedMs)));
  const { created, existing } = await store.createRecords(records);
  const createdSet = new Set(created);
  for (const r of records) {
    if (!createdSet.has(r.key)) continue;
    if (r.state === 'pending') done.pending++;
    else if (r.skipReason === 'cap') done.skippedCap++;
    else done.skippedRetention++;
  }
  done.existing = existing.length;
  if (done.skippedCap || done.skippedRetention) {
    await store.addToDay(source.id, today, { skippedCap: done.skippedCap, skippedRetention: done.skippedRetention });
    if (done.skippedCap) deps.telemetry.count('detailsSkipped', done.skippedCap, { source: source.id, reason: 'cap' });
    if (done.skippedRetention) deps.telemetry.count('detailsSkipped', done.skippedRetention, { source: source.id, reason: 'retention' });
  }
  // A job for every pending record made now, and for every record that existed (it may have lost
  // its job with a crashed process; a finished one's job is a no-op).
  const existingSet = new Set(existing);
  const toSend = records.filter((r) => (createdSet.has(r.key) && r.state === 'pending') || existingSet.has(r.key)).map((r) => r.key);
  for (let i = 0; i < toSend.length; i += SEND_CONCURRENCY) {
    await Promise.all(toSend.slice(i, i + SEND_CONCURRENCY).map((key) => deps.queue.send(detailJob(source.id, key), { delayMs: DETAIL_START_DELAY_MS })));
  }
  done.jobs = toSend.length;
  deps.log.log('debug', `detail enrichment: ${done.pending} row(s) admitted, ${done.skippedCap} skipped (cap), ${done.skippedRetention} skipped (retention), ${done.existing} already known`, { source: source.id, slice: slice.id });
  return done;
}
