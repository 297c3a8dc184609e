/**
 * The page worker: one queue message = one page of one slice.
 *
 *   claim the page in the ledger → fetch it (token, Graph) → keep rows inside the half-open slice
 *   and drop page-boundary repeats → forward to every destination not yet marked for this page →
 *   record the page done (conditional write) → enqueue the continuation → after the last page the
 *   slice is done and the source's completed watermark moves over contiguous done slices.
 *
 * Delivered twice, a job is forwarded once: the page number in the ledger and the claim make every
 * duplicate a no-op. Per-destination marks make a failing destination retry alone.
 */
import type { CollectorConfig, SourceConfig } from '../config/types';
import { CollectorError, asCollectorError } from '../errors';
import type { Logger } from '../log';
import { makeEvent, receivedMs, rowKey, type MessageTraceRow, type TraceEvent } from '../model/row';
import type { MessageTraceClient, RenewableCredential } from '../api/client';
import type { Destination } from '../destinations/destination';
import type { DestinationMark, Ledger, SliceRow } from '../state/ledger';
import { liveSlicePrefixAt } from '../state/ledger';
import type { JobQueue, PageJob } from '../queue/jobs';
import type { Clock } from '../time/clock';
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from './retry';

export const CLAIM_TTL_MS = 10 * 60_000;
const BOUNDARY_WINDOW_MS = 1000;
const MAX_BOUNDARY_KEYS = 2000;

export interface SourceClients {
  api: MessageTraceClient;
  credential: RenewableCredential;
}

export interface WorkerDeps {
  config: CollectorConfig;
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  destinations: ReadonlyMap<string, Destination>;
  clientsFor(source: SourceConfig): SourceClients;
  retry?: RetryPolicy;
}

export interface MessageMeta {
  /** Queue message id: stable across redeliveries of the same message. */
  messageId: string;
  dequeueCount: number;
}

export type PageOutcome =
  | 'forwarded' | 'slice-done' | 'duplicate' | 'claimed-elsewhere' | 'deferred' | 'retry-scheduled'
  | 'parked' | 'unknown-source' | 'unknown-slice';

export interface PageResultSummary {
  outcome: PageOutcome;
  rowsFetched?: number;
  rowsForwarded?: number;
  error?: CollectorError;
}

export async function processPageJob(deps: WorkerDeps, job: PageJob, meta: MessageMeta): Promise<PageResultSummary> {
  const { ledger, clock, log } = deps;
  const fields = { source: job.sourceId, slice: job.sliceId, page: job.page };
  const source = deps.config.sources.find((s) => s.id === job.sourceId);
  if (!source) {
    log.log('warn', 'page job for a source that is no longer configured; dropped', fields);
    return { outcome: 'unknown-source' };
  }
  const now = clock.now();
  if (job.notBefore !== undefined && job.notBefore > now) {
    await deps.queue.send(job, { delayMs: job.notBefore - now });
    return { outcome: 'deferred' };
  }

  let slice = await ledger.getSlice(job.sourceId, job.sliceId);
  if (!slice) {
    log.log('error', 'page job for a slice the ledger does not know; dropped', fields);
    return { outcome: 'unknown-slice' };
  }
  if (slice.state === 'done' || slice.state === 'parked') return { outcome: 'duplicate' };
  if (job.page < slice.page) {
    // A redelivered message whose earlier attempt recorded the page but died before enqueueing the
    // continuation: make sure the continuation exists (duplicates are absorbed by the claim).
    if (meta.dequeueCount > 1 && job.page === slice.page - 1 && !(slice.claimOwner && slice.claimUntil > now)) {
      await deps.queue.send({ v: 1, sourceId: job.sourceId, sliceId: job.sliceId, page: slice.page, attempt: 0 });
      log.log('warn', 'restored a continuation lost by an interrupted worker', fields);
    }
    return { outcome: 'duplicate' };
  }
  if (job.page > slice.page) {
    log.log('error', `page job ahead of the ledger (ledger is at page ${slice.page}); dropped`, fields);
    return { outcome: 'duplicate' };
  }
  if (slice.claimOwner && slice.claimOwner !== meta.messageId && slice.claimUntil > now) {
    return { outcome: 'claimed-elsewhere' };
  }

  // Claim.
  const claimed = await ledger.swapSlice({
    ...slice,
    state: 'fetching',
    claimOwner: meta.messageId,
    claimUntil: now + CLAIM_TTL_MS,
    attempts: slice.attempts + 1,
    firstAttemptAt: slice.firstAttemptAt || now,
    updatedAt: now,
  });
  if (!claimed) return { outcome: 'claimed-elsewhere' };
  slice = claimed;

  const clients = deps.clientsFor(source);
  let requests = 0;
  let rows: MessageTraceRow[];
  let nextLink: string | undefined;
  try {
    const fetched = await fetchWithTokenRenewal(clients, slice, source, () => requests++);
    rows = fetched.rows;
    nextLink = fetched.nextLink;
  } catch (err) {
    return failPage(deps, source, slice, job, asCollectorError(err), requests);
  }

  // Keep the half-open slice, drop boundary repeats and repeats within the page.
  const seen = new Set(slice.boundaryKeys);
  const kept: MessageTraceRow[] = [];
  let oldest = Number.POSITIVE_INFINITY;
  for (const row of rows) {
    const t = receivedMs(row.receivedDateTime);
    if (!Number.isNaN(t)) oldest = Math.min(oldest, t);
    if (Number.isNaN(t) || t < slice.startMs || t >= slice.endMs) continue;
    const key = rowKey(source.tenantId, row);
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(row);
  }
  const boundaryKeys: string[] = [];
  for (let i = rows.length - 1; i >= 0 && boundaryKeys.length < MAX_BOUNDARY_KEYS; i--) {
    const t = receivedMs(rows[i]!.receivedDateTime);
    if (!(t <= oldest + BOUNDARY_WINDOW_MS)) break;
    boundaryKeys.push(rowKey(source.tenantId, rows[i]!));
  }

  const collectedAt = new Date(clock.now()).toISOString();
  const api = clients.api.api;
  const events = kept.map((row) => makeEvent({ tenantId: source.tenantId, sourceId: source.id, api, collectedAt, fields: source.fields, row }));

  // Forward to each destination that has not acknowledged this page yet.
  const failures: CollectorError[] = [];
  for (const destId of source.destinations) {
    const destination = deps.destinations.get(destId);
    if (!destination) continue;
    const mark: DestinationMark = slice.marks[destId] ?? { pagesDone: 0, rows: 0 };
    if (mark.pagesDone > job.page) continue;
    let pending: TraceEvent[] = events;
    if (mark.pagesDone === job.page && mark.partialKey) {
      const idx = events.findIndex((e) => e.eventId === mark.partialKey);
      if (idx >= 0) pending = events.slice(idx + 1);
      else log.log('warn', 'partial delivery mark not found in the re-fetched page; sending the whole page again', { ...fields, destination: destId });
    }
    try {
      let already = 0;
      await destination.send(pending, {
        sourceId: source.id, sliceId: slice.id, page: job.page,
        onProgress: async (deliveredSoFar) => {
          const delivered = deliveredSoFar - already;
          already = deliveredSoFar;
          const last = pending[deliveredSoFar - 1]!;
          const cur: DestinationMark = slice!.marks[destId] ?? { pagesDone: job.page, rows: 0 };
          const updated = await ledger.swapSlice({
            ...slice!,
            marks: { ...slice!.marks, [destId]: { pagesDone: job.page, rows: cur.rows + delivered, partialKey: last.eventId } },
            updatedAt: clock.now(),
          });
          if (!updated) throw new CollectorError('FirstPartyGeneric', 'lost the claim on the slice while delivering', { code: 'ClaimLost', retryable: true });
          slice = updated;
        },
      });
      const cur: DestinationMark = slice.marks[destId] ?? { pagesDone: job.page, rows: 0 };
      slice = { ...slice, marks: { ...slice.marks, [destId]: { pagesDone: job.page + 1, rows: cur.rows } } };
    } catch (err) {
      const e = asCollectorError(err);
      failures.push(e);
      log.log('warn', `destination ${destId} failed: ${e.message}`, { ...fields, destination: destId, errorType: e.type, code: e.code });
    }
  }
  if (failures.length) {
    return failPage(deps, source, slice, job, failures[0]!, requests);
  }

  // Record the page done, then enqueue the continuation.
  const done = !nextLink;
  const committed = await ledger.swapSlice({
    ...slice,
    page: job.page + 1,
    nextLink: nextLink ?? '',
    boundaryKeys,
    rows: slice.rows + kept.length,
    requests: slice.requests + requests,
    state: done ? 'done' : 'fetching',
    attempts: 0,
    firstAttemptAt: 0,
    claimOwner: '',
    claimUntil: 0,
    lastError: '',
    updatedAt: clock.now(),
  });
  if (!committed) {
    log.log('error', 'lost the claim before recording the page; another worker will redo it', fields);
    return { outcome: 'claimed-elsewhere' };
  }
  await ledger.mergeHealth(source.id, { state: 'Collecting', lastSuccessAt: clock.now() });
  if (!done) {
    await deps.queue.send({ v: 1, sourceId: source.id, sliceId: slice.id, page: job.page + 1, attempt: 0 });
    return { outcome: 'forwarded', rowsFetched: rows.length, rowsForwarded: kept.length };
  }
  if (committed.kind === 'live') await advanceWatermark(ledger, source.id);
  return { outcome: 'slice-done', rowsFetched: rows.length, rowsForwarded: kept.length };
}

async function fetchWithTokenRenewal(clients: SourceClients, slice: SliceRow, source: SourceConfig, counted: () => void) {
  const request = slice.page === 0
    ? { kind: 'window' as const, startMs: slice.startMs, endMs: slice.endMs, top: source.pageSize }
    : { kind: 'continuation' as const, url: slice.nextLink };
  try {
    counted();
    return await clients.api.fetchPage(request);
  } catch (err) {
    // A 401 on a token that was valid: renew the credential once and retry.
    if (err instanceof CollectorError && err.statusCode === 401 && err.type === 'ThirdPartyGeneric') {
      clients.credential.renew();
      counted();
      return await clients.api.fetchPage(request);
    }
    throw err;
  }
}

async function failPage(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, error: CollectorError, requests: number): Promise<PageResultSummary> {
  const { ledger, clock, log } = deps;
  const now = clock.now();
  const policy = deps.retry ?? DEFAULT_RETRY;
  const fields = { source: source.id, slice: slice.id, page: job.page, errorType: error.type, code: error.code };
  const lastError = JSON.stringify(error.toHealth());
  const delay = retryDelayMs(policy, job.attempt, error.retryAfterSec);
  const pastHorizon = now + delay - (slice.firstAttemptAt || now) > policy.horizonMs;
  const park = !error.retryable || pastHorizon;
  const updated = await ledger.swapSlice({
    ...slice,
    state: park ? 'parked' : 'fetching',
    requests: slice.requests + requests,
    claimOwner: '',
    claimUntil: 0,
    lastError,
    updatedAt: now,
  });
  if (!updated) return { outcome: 'claimed-elsewhere', error };
  await ledger.mergeHealth(source.id, {
    lastError, lastErrorAt: now,
    ...(error.type === 'ThirdPartyConfig' ? { state: 'Error', stateSince: now } : {}),
  });
  if (park) {
    log.log('error', `slice parked: ${error.message}`, fields);
    return { outcome: 'parked', error };
  }
  await deps.queue.send({ ...job, attempt: job.attempt + 1 }, { delayMs: delay });
  log.log('warn', `page failed, retry in ${Math.round(delay / 1000)} s: ${error.message}`, fields);
  return { outcome: 'retry-scheduled', error };
}

/** Moves completedUntil over contiguous done live slices. */
export async function advanceWatermark(ledger: Ledger, sourceId: string): Promise<number> {
  const health = await ledger.getHealth(sourceId);
  let current = health?.completedUntil ?? 0;
  if (!current) current = (await ledger.getCursor(sourceId))?.startMs ?? 0;
  if (!current) return 0;
  for await (const s of ledger.listSlices(sourceId, { fromRowKey: liveSlicePrefixAt(current), toRowKey: 'M' })) {
    if (s.kind !== 'live') continue;
    if (s.startMs !== current || s.state !== 'done') break;
    current = s.endMs;
  }
  return ledger.advanceWatermark(sourceId, current);
}
