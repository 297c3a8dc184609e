/**
 * The page worker: one queue message = one page of one slice.
 *
 *   claim the page in the ledger → take a request from the tenant budget → fetch it (token, API)
 *   → keep rows inside the half-open slice and drop page-boundary repeats → forward to every
 *   destination not yet marked for this page → record the page done (conditional write) → enqueue
 *   the continuation → after the last page the slice is done and the source's completed watermark
 *   moves over contiguous done slices.
 *
 * Delivered twice, a job is forwarded once: the page number in the ledger and the claim make every
 * duplicate a no-op. Per-destination marks make a failing destination retry alone, from a spilled
 * copy of the page (no new API request). A corrupt continuation is healed by re-querying the rest
 * of the slice. Failures past the retry horizon park the slice; ThirdPartyConfig stops the source.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { CollectorConfig, RetryPolicyConfig, SourceConfig } from '../config/types';
import { CollectorError, asCollectorError, firstPartyGeneric } from '../errors';
import type { Logger } from '../log';
import { makeEvent, receivedMs, rowKey, type MessageTraceRow, type TraceEvent } from '../model/row';
import type { MessageTraceClient, PageRequest, PageResult, RenewableCredential } from '../api/client';
import type { Destination } from '../destinations/destination';
import type { DestinationMark, Ledger, SliceRow } from '../state/ledger';
import { liveSlicePrefixAt } from '../state/ledger';
import type { JobQueue, PageJob } from '../queue/jobs';
import type { Clock } from '../time/clock';
import type { Telemetry } from '../telemetry';
import { EVENTS } from '../telemetry';
import { setSourceState } from '../health';
import { policyRetries, retryDelayMs } from './retry';
import { deleteSpill, readSpill, writeSpill, type SpilledPage } from './spill';
import { describeSecretRef } from '../auth/secrets';
import { bucketOf, fingerprint, loadSeen, parseFingerprint, writeSeen } from '../settle/seen-store';
import { advanceSettled } from '../settle/settled';

export const CLAIM_TTL_MS = 10 * 60_000;
const BOUNDARY_WINDOW_MS = 1000;
const MAX_BOUNDARY_KEYS = 2000;

export interface SourceClients {
  api: MessageTraceClient;
  credential: RenewableCredential;
}

export type Priority = 'live' | 'backfill' | 'rescan';

/** The tenant request budget, shared by every instance (shared/budget). */
export interface BudgetGate {
  /** `waiterKey` names the request (slice and page), so a refused live request keeps its place. */
  acquire(tenantKey: string, priority: Priority, waiterKey?: string): Promise<{ granted: true } | { granted: false; waitMs: number; reason: string }>;
  pause(tenantKey: string, untilMs: number, reason: string): Promise<void>;
  /** Records a request sent without an acquire (the retry after a token renewal). */
  charge?(tenantKey: string, priority: Priority, count?: number): Promise<void>;
}

export interface WorkerDeps {
  config: CollectorConfig;
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  destinations: ReadonlyMap<string, Destination>;
  clientsFor(source: SourceConfig): SourceClients;
  configHashOf(source: SourceConfig): string;
  /** Where pages wait for a failed destination. */
  spill: ContainerClient;
  /** The seen-store for settle re-reads. */
  seen: ContainerClient;
  budget?: BudgetGate;
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

/** The page's content once fetched (or read back from the spill). */
interface PageContent {
  nextLink?: string;
  boundaryKeys: string[];
  oldestMs: number;
  fetched: number;
  events: TraceEvent[];
  seenWrites?: { bucket: number; keys: string[]; fps: string[] }[];
  fromSpill: boolean;
}

export function priorityOf(slice: Pick<SliceRow, 'kind'>): Priority {
  return slice.kind === 'live' ? 'live' : slice.kind === 'backfill' ? 'backfill' : 'rescan';
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

  // A source stopped by a ThirdPartyConfig error spends no request until its configuration changes.
  const health = await ledger.getHealth(source.id);
  if (health?.state === 'Error' && health.configHash === deps.configHashOf(source)) {
    const stoppedBy = health.lastError ? (JSON.parse(health.lastError) as { code?: string; message?: string; fix?: string }) : {};
    const error = new CollectorError('ThirdPartyConfig', `the source is stopped: ${stoppedBy.message ?? 'configuration error'}`, {
      code: stoppedBy.code ?? 'SourceStopped', retryable: false, ...(stoppedBy.fix ? { fix: stoppedBy.fix } : {}),
    });
    const parked = await park(deps, source, slice, 'config', error, 0, { recordInHealth: false });
    return parked ? { outcome: 'parked' } : { outcome: 'claimed-elsewhere' };
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

  // The page content: from the spill when a destination failed before, else from the API.
  let content: PageContent | undefined;
  let requests = 0;
  if (slice.spilledPage === job.page) {
    const spilled = await readSpill(deps.spill, source.id, slice.id, job.page).catch(() => undefined);
    if (spilled) content = { ...spilled, fromSpill: true };
  }
  if (!content) {
    if (deps.budget) {
      const grant = await deps.budget.acquire(source.tenantId, priorityOf(slice), `${slice.id}#${job.page}`);
      if (!grant.granted) {
        const released = await ledger.swapSlice({ ...slice, claimOwner: '', claimUntil: 0, attempts: Math.max(0, slice.attempts - 1), updatedAt: clock.now() });
        if (released) await deps.queue.send(job, { delayMs: grant.waitMs });
        return { outcome: 'deferred' };
      }
    }
    const clients = deps.clientsFor(source);
    let result: PageResult;
    try {
      result = await fetchWithTokenRenewal(deps, clients, slice, source, () => requests++);
    } catch (err) {
      return handleFetchFailure(deps, source, slice, job, asCollectorError(err), requests);
    }
    content = await buildContent(deps, source, slice, result, clients.api.api);
  }

  // Forward to each destination that has not acknowledged this page yet.
  const failures: { destination: string; error: CollectorError }[] = [];
  for (const destId of source.destinations) {
    const destination = deps.destinations.get(destId);
    if (!destination) continue;
    const mark: DestinationMark = slice.marks[destId] ?? { pagesDone: 0, rows: 0 };
    if (mark.pagesDone > job.page) continue;
    let pending: TraceEvent[] = content.events;
    if (mark.pagesDone === job.page && mark.partialKey) {
      const idx = content.events.findIndex((e) => e.eventId === mark.partialKey);
      if (idx >= 0) pending = content.events.slice(idx + 1);
      else log.log('warn', 'partial delivery mark not found in the page; sending the whole page again', { ...fields, destination: destId });
    }
    try {
      let already = 0, alreadyBytes = 0;
      await destination.send(pending, {
        sourceId: source.id, sliceId: slice.id, page: job.page,
        onProgress: async (deliveredSoFar, bytesSoFar) => {
          const delivered = deliveredSoFar - already;
          already = deliveredSoFar;
          if (bytesSoFar !== undefined) {
            deps.telemetry.count('bytesSent', bytesSoFar - alreadyBytes, { source: source.id, destination: destId });
            alreadyBytes = bytesSoFar;
          }
          const last = pending[deliveredSoFar - 1]!;
          const cur: DestinationMark = slice!.marks[destId] ?? { pagesDone: job.page, rows: 0 };
          const updated = await ledger.swapSlice({
            ...slice!,
            marks: { ...slice!.marks, [destId]: { pagesDone: job.page, rows: cur.rows + delivered, partialKey: last.eventId } },
            updatedAt: clock.now(),
          });
          if (!updated) throw firstPartyGeneric('lost the claim on the slice while delivering', { code: 'ClaimLost' });
          slice = updated;
          deps.telemetry.count('rowsForwarded', delivered, { source: source.id, destination: destId });
        },
      });
      const cur: DestinationMark = slice.marks[destId] ?? { pagesDone: job.page, rows: 0 };
      slice = { ...slice, marks: { ...slice.marks, [destId]: { pagesDone: job.page + 1, rows: cur.rows } } };
    } catch (err) {
      const e = asCollectorError(err);
      const error = e.type === 'FirstPartyGeneric' ? e : new CollectorError('FirstPartyGeneric', e.message, { code: e.code, retryable: e.retryable, ...(e.statusCode ? { statusCode: e.statusCode } : {}) });
      failures.push({ destination: destId, error });
      deps.telemetry.count('errors', 1, { source: source.id, error_type: 'FirstPartyGeneric', stage: 'sending', code: error.code });
      log.log('warn', `destination ${destId} failed: ${error.message}`, { ...fields, destination: destId, errorType: error.type, code: error.code });
    }
  }
  if (failures.length) {
    if (!content.fromSpill) {
      try {
        const { fromSpill: _ignored, ...data } = content;
        await writeSpill(deps.spill, source.id, slice.id, { v: 1, page: job.page, ...data } satisfies SpilledPage);
        slice = { ...slice, spilledPage: job.page };
      } catch (err) {
        log.log('warn', `could not spill the page for the retry; it will be fetched again: ${(err as Error).message}`, fields);
      }
    }
    return failDelivery(deps, source, slice, job, failures, requests);
  }

  // The seen-store learns this page's rows before the page is recorded (a redo overwrites it).
  if (content.seenWrites?.length) {
    for (const w of content.seenWrites) {
      await writeSeen(deps.seen, source.id, w.bucket, `${slice.id}-p${job.page}`, { keys: w.keys, fps: w.fps });
    }
  }

  // Record the page done, then enqueue the continuation.
  const done = !content.nextLink;
  const committed = await ledger.swapSlice({
    ...slice,
    page: job.page + 1,
    nextLink: content.nextLink ?? '',
    boundaryKeys: content.boundaryKeys,
    rows: slice.rows + content.events.length,
    requests: slice.requests + requests,
    state: done ? 'done' : 'fetching',
    attempts: 0,
    firstAttemptAt: 0,
    claimOwner: '',
    claimUntil: 0,
    lastError: '',
    linkFailures: 0,
    resumeUntil: 0,
    oldestMs: slice.oldestMs ? Math.min(slice.oldestMs, content.oldestMs || slice.oldestMs) : content.oldestMs,
    spilledPage: -1,
    updatedAt: clock.now(),
  });
  if (!committed) {
    log.log('error', 'lost the claim before recording the page; another worker will redo it', fields);
    return { outcome: 'claimed-elsewhere' };
  }
  if (content.fromSpill || slice.spilledPage === job.page) await deleteSpill(deps.spill, source.id, slice.id, job.page).catch(() => undefined);
  if (health?.state !== 'Collecting') await setSourceState(deps, source.id, 'Collecting', { configHash: deps.configHashOf(source) });
  else if (clock.now() - (health.lastSuccessAt || 0) >= 60_000) await ledger.mergeHealth(source.id, { lastSuccessAt: clock.now() });
  if (!done) {
    await deps.queue.send({ v: 1, sourceId: source.id, sliceId: slice.id, page: job.page + 1, attempt: 0 });
    return { outcome: 'forwarded', rowsFetched: content.fetched, rowsForwarded: content.events.length };
  }
  if (committed.kind === 'live') {
    const completedUntil = await advanceWatermark(ledger, source.id);
    if (completedUntil) deps.telemetry.gauge('lagSeconds', Math.max(0, Math.round((clock.now() - completedUntil) / 1000)), { source: source.id });
  }
  if (committed.kind === 'rescan' && committed.id.startsWith(`R${source.settleRereadsMs.length - 1}-`)) {
    await advanceSettled(ledger, source, deps.seen);
  }
  return { outcome: 'slice-done', rowsFetched: content.fetched, rowsForwarded: content.events.length };
}

function requestFor(slice: SliceRow, source: SourceConfig): PageRequest {
  if (slice.page === 0) return { kind: 'window', startMs: slice.startMs, endMs: slice.endMs, top: source.pageSize };
  if (slice.nextLink) return { kind: 'continuation', url: slice.nextLink };
  // Self-healed: re-query the rest of the slice (everything up to the oldest row received).
  return { kind: 'window', startMs: slice.startMs, endMs: Math.min(slice.endMs, slice.resumeUntil || slice.endMs), top: source.pageSize };
}

async function fetchWithTokenRenewal(deps: WorkerDeps, clients: SourceClients, slice: SliceRow, source: SourceConfig, counted: () => void): Promise<PageResult> {
  const request = requestFor(slice, source);
  const attempt = async () => {
    counted();
    const started = performance.now();
    try {
      const r = await clients.api.fetchPage(request);
      deps.telemetry.count('apiRequests', 1, { source: source.id, status: '200' });
      deps.telemetry.record('pageLatency', performance.now() - started, { source: source.id });
      if (r.bytes !== undefined) deps.telemetry.count('bytesReceived', r.bytes, { source: source.id });
      return r;
    } catch (err) {
      deps.telemetry.count('apiRequests', 1, { source: source.id, status: err instanceof CollectorError && err.statusCode ? String(err.statusCode) : 'error' });
      throw err;
    }
  };
  try {
    return await attempt();
  } catch (err) {
    // A 401 on a token that was valid: renew the credential once and retry.
    if (err instanceof CollectorError && err.statusCode === 401 && err.type === 'ThirdPartyGeneric') {
      clients.credential.renew();
      await deps.budget?.charge?.(source.tenantId, priorityOf(slice));
      return await attempt();
    }
    throw err;
  }
}

/**
 * Keeps the half-open slice, drops boundary repeats and repeats within the page, builds events.
 * A settle re-read (rescan) keeps only rows never seen before (late arrivals, normal events) and
 * rows whose status, size or toIP changed (update events carrying the previous values); unchanged
 * rows are not sent again. Live pages and re-reads record what they kept in the seen-store.
 */
async function buildContent(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, result: PageResult, api: string): Promise<PageContent> {
  const seen = new Set(slice.boundaryKeys);
  const kept: { row: MessageTraceRow; raw?: unknown; key: string }[] = [];
  let oldest = Number.POSITIVE_INFINITY;
  let outside = 0, repeats = 0;
  result.rows.forEach((row, i) => {
    const t = receivedMs(row.receivedDateTime);
    if (!Number.isNaN(t)) oldest = Math.min(oldest, t);
    if (Number.isNaN(t) || t < slice.startMs || t >= slice.endMs) {
      outside++;
      return;
    }
    const key = rowKey(source.tenantId, row);
    if (seen.has(key)) {
      repeats++;
      return;
    }
    seen.add(key);
    kept.push({ row, key, ...(result.raws ? { raw: result.raws[i] } : {}) });
  });
  const boundaryKeys: string[] = [];
  for (let i = result.rows.length - 1; i >= 0 && boundaryKeys.length < MAX_BOUNDARY_KEYS; i--) {
    const t = receivedMs(result.rows[i]!.receivedDateTime);
    if (!(t <= oldest + BOUNDARY_WINDOW_MS)) break;
    boundaryKeys.push(rowKey(source.tenantId, result.rows[i]!));
  }
  const collectedAt = new Date(deps.clock.now()).toISOString();
  const settling = source.settleRereadsMs.length > 0 && (slice.kind === 'live' || slice.kind === 'rescan');
  const events: TraceEvent[] = [];
  const writes = new Map<number, { keys: string[]; fps: string[] }>();
  let unchanged = 0;
  let previousOf: Map<string, string> | undefined;
  if (slice.kind === 'rescan') {
    const level = Number(/^R(\d+)-/.exec(slice.id)?.[1] ?? 0);
    previousOf = await loadSeenCached(deps.seen, source.id, bucketOf(slice.startMs, source.settleBucketMs), level);
  }
  for (const { row, raw, key } of kept) {
    const fp = fingerprint(row);
    let previous: ReturnType<typeof parseFingerprint> | undefined;
    if (previousOf) {
      const before = previousOf.get(key);
      if (before === fp) {
        unchanged++;
        continue;
      }
      if (before !== undefined) previous = parseFingerprint(before);
    }
    events.push(makeEvent({
      tenantId: source.tenantId, sourceId: source.id, api, collectedAt, fields: source.fields, row, collectedBy: slice.kind,
      ...(raw !== undefined ? { raw } : {}), ...(previous ? { previous } : {}),
    }));
    if (settling) {
      const b = bucketOf(receivedMs(row.receivedDateTime), source.settleBucketMs);
      let w = writes.get(b);
      if (!w) writes.set(b, (w = { keys: [], fps: [] }));
      w.keys.push(key);
      w.fps.push(fp);
    }
  }
  deps.telemetry.count('eventsReceived', events.length, { source: source.id });
  if (outside) deps.telemetry.count('discarded', outside, { source: source.id, reason: 'outside_slice', intentional: 'true' });
  if (repeats) deps.telemetry.count('discarded', repeats, { source: source.id, reason: 'page_boundary_repeat', intentional: 'true' });
  if (unchanged) deps.telemetry.count('discarded', unchanged, { source: source.id, reason: 'unchanged_on_reread', intentional: 'true' });
  return {
    ...(result.nextLink ? { nextLink: result.nextLink } : {}),
    boundaryKeys,
    oldestMs: Number.isFinite(oldest) ? oldest : 0,
    fetched: result.rows.length,
    events,
    ...(writes.size ? { seenWrites: [...writes].map(([bucket, w]) => ({ bucket, ...w })) } : {}),
    fromSpill: false,
  };
}

/** The merged seen-store of a bucket for one re-read level, cached briefly (pages of one re-read share it). */
const seenCache = new Map<string, { at: number; map: Promise<Map<string, string>> }>();
function loadSeenCached(container: ContainerClient, sourceId: string, bucket: number, level: number): Promise<Map<string, string>> {
  const key = `${container.url}|${sourceId}|${bucket}|${level}`;
  const hit = seenCache.get(key);
  if (hit && Date.now() - hit.at < 10 * 60_000) return hit.map;
  const map = loadSeen(container, sourceId, bucket, level);
  seenCache.set(key, { at: Date.now(), map });
  map.catch(() => seenCache.delete(key));
  while (seenCache.size > 8) seenCache.delete(seenCache.keys().next().value!);
  return map;
}

/** A bad or expired client secret: say which secret reference to update. */
function withSecretReference(error: CollectorError, source: SourceConfig): CollectorError {
  if (source.auth.method !== 'clientSecret' || !/^AADSTS(7000215|7000222)$/.test(error.code)) return error;
  const ref = describeSecretRef(source.auth.clientSecret);
  return new CollectorError('ThirdPartyConfig', `${error.message} The source reads it from ${ref}.`, {
    code: error.code, retryable: false,
    fix: `${error.code === 'AADSTS7000222' ? 'Create a new client secret for the app registration' : 'Copy the client secret VALUE (not its id) of the app registration'} and store it at ${ref}; collection resumes after POST /api/sources/${source.id}/replay (or by itself when the preflight re-check passes, every 30 minutes).`,
  });
}

async function handleFetchFailure(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, error: CollectorError, requests: number): Promise<PageResultSummary> {
  const { clock, log } = deps;
  const fields = { source: source.id, slice: slice.id, page: job.page, errorType: error.type, code: error.code };
  deps.telemetry.count('errors', 1, { source: source.id, error_type: error.type, stage: 'receiving', code: error.code });

  if (error.type === 'ThirdPartyConfig') {
    error = withSecretReference(error, source);
    await setSourceState(deps, source.id, 'Error', { error, configHash: deps.configHashOf(source) });
    const parked = await park(deps, source, slice, 'config', error, requests);
    return { outcome: parked ? 'parked' : 'claimed-elsewhere', error };
  }
  if (error.statusCode === 429 && error.retryAfterSec !== undefined && deps.budget) {
    await deps.budget.pause(source.tenantId, clock.now() + error.retryAfterSec * 1000, 'the API answered 429 with Retry-After');
  }

  // Self-healing pagination: after N 400s on one continuation, re-query the rest of the slice.
  if (error.code === 'CorruptNextLink' && slice.page > 0 && slice.nextLink) {
    const failuresOnLink = slice.linkFailures + 1;
    if (failuresOnLink >= source.nextLinkFailureLimit) {
      const resumeUntil = slice.oldestMs ? Math.min(slice.endMs, slice.oldestMs + 1) : slice.endMs;
      const healed = await deps.ledger.swapSlice({
        ...slice, nextLink: '', resumeUntil, linkFailures: 0, requests: slice.requests + requests,
        claimOwner: '', claimUntil: 0, lastError: JSON.stringify(error.toHealth()), updatedAt: clock.now(),
      });
      if (!healed) return { outcome: 'claimed-elsewhere', error };
      log.log('warn', `nextLink failed ${failuresOnLink} times; re-querying the rest of the slice up to ${new Date(resumeUntil).toISOString()}`, fields);
      await deps.queue.send({ ...job, attempt: job.attempt + 1 }, { delayMs: source.retry.initialMs });
      return { outcome: 'retry-scheduled', error };
    }
    slice = { ...slice, linkFailures: failuresOnLink };
  }
  return scheduleRetryOrPark(deps, source, slice, job, error, source.retry, requests, 'receiving');
}

async function failDelivery(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, failures: { destination: string; error: CollectorError }[], requests: number): Promise<PageResultSummary> {
  // The slowest-recovering destination sets the pace: the longest delay among the failed ones.
  let chosen = failures[0]!;
  let policy = retryPolicyOf(deps, chosen.destination, source);
  for (const f of failures.slice(1)) {
    const p = retryPolicyOf(deps, f.destination, source);
    if (retryDelayMs(p, job.attempt, f.error.retryAfterSec) > retryDelayMs(policy, job.attempt, chosen.error.retryAfterSec)) {
      chosen = f;
      policy = p;
    }
  }
  const error = new CollectorError('FirstPartyGeneric', `destination ${chosen.destination}: ${chosen.error.message}`, {
    code: chosen.error.code, retryable: failures.every((f) => policyRetries(retryPolicyOf(deps, f.destination, source), f.error)),
    ...(chosen.error.statusCode ? { statusCode: chosen.error.statusCode } : {}),
    ...(chosen.error.excerpt ? { excerpt: chosen.error.excerpt } : {}),
  });
  return scheduleRetryOrPark(deps, source, slice, job, error, policy, requests, 'sending', `destination:${chosen.destination}`);
}

function retryPolicyOf(deps: WorkerDeps, destinationId: string, source: SourceConfig): RetryPolicyConfig {
  const d = deps.config.destinations.find((x) => x.id === destinationId);
  return d && 'retry' in d && d.retry ? d.retry : source.retry;
}

async function scheduleRetryOrPark(
  deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, error: CollectorError,
  policy: RetryPolicyConfig, requests: number, stage: 'receiving' | 'sending', parkReasonOverride?: string,
): Promise<PageResultSummary> {
  const now = deps.clock.now();
  const delay = retryDelayMs(policy, job.attempt, error.retryAfterSec);
  const retries = policyRetries(policy, error);
  const pastHorizon = now + delay - (slice.firstAttemptAt || now) > policy.horizonMs;
  if (!retries || pastHorizon) {
    const reason = parkReasonOverride ?? (!retries ? 'permanent' : 'horizon');
    const parked = await park(deps, source, slice, reason, error, requests);
    return { outcome: parked ? 'parked' : 'claimed-elsewhere', error };
  }
  const updated = await deps.ledger.swapSlice({
    ...slice, requests: slice.requests + requests, claimOwner: '', claimUntil: 0,
    lastError: JSON.stringify(error.toHealth()), updatedAt: now,
  });
  if (!updated) return { outcome: 'claimed-elsewhere', error };
  await deps.ledger.mergeHealth(source.id, { lastError: JSON.stringify(error.toHealth()), lastErrorAt: now });
  await deps.queue.send({ ...job, attempt: job.attempt + 1 }, { delayMs: delay });
  deps.log.log('warn', `page failed (${stage}), retry in ${Math.round(delay / 1000)} s: ${error.message}`, {
    source: source.id, slice: slice.id, page: job.page, errorType: error.type, code: error.code, attempt: job.attempt + 1,
  });
  return { outcome: 'retry-scheduled', error };
}

/** Parks a slice: it holds the watermark back, shows in status, and waits for a replay. */
async function park(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, reason: string, error: CollectorError, requests: number, opts: { recordInHealth?: boolean } = {}): Promise<boolean> {
  const now = deps.clock.now();
  const updated = await deps.ledger.swapSlice({
    ...slice, state: 'parked', parkReason: reason, parkedAt: now, requests: slice.requests + requests,
    claimOwner: '', claimUntil: 0, lastError: JSON.stringify(error.toHealth()), updatedAt: now,
  });
  if (!updated) return false;
  if (opts.recordInHealth !== false) await deps.ledger.mergeHealth(source.id, { lastError: JSON.stringify(error.toHealth()), lastErrorAt: now });
  deps.telemetry.event(EVENTS.sliceParked, { source: source.id, slice: slice.id, reason, errorType: error.type, code: error.code, message: error.message });
  deps.log.log('error', `slice parked (${reason}): ${error.message}${error.fix ? ` Fix: ${error.fix}` : ''}`, {
    source: source.id, slice: slice.id, page: slice.page, errorType: error.type, code: error.code,
  });
  return true;
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
