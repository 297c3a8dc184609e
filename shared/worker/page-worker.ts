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
 * duplicate a no-op. A fetched page is persisted before its first send (shared/worker/page-store),
 * and every retry or resume delivers that copy, never a new fetch (invariant 8). Per-destination
 * marks (pages done, and an index into the page copy within a page) make a failing destination
 * retry alone. A corrupt continuation is healed by re-querying the rest of the slice. Failures
 * past the retry horizon park the slice; ThirdPartyConfig stops the source.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { CollectorConfig, RetryPolicyConfig, SourceConfig } from '../config/types';
import { CollectorError, asCollectorError, firstPartyGeneric } from '../errors';
import type { Logger } from '../log';
import { makeEvent, receivedMs, rowKey, type MessageTraceRow, type TraceEvent } from '../model/row';
import type { MessageTraceClient, PageRequest, PageResult, RenewableCredential } from '../api/client';
import type { Destination } from '../destinations/destination';
import type { DestinationMark, HealthRow, Ledger, SliceRow } from '../state/ledger';
import { liveSlicePrefixAt } from '../state/ledger';
import type { JobQueue, PageJob } from '../queue/jobs';
import type { Clock } from '../time/clock';
import type { Telemetry } from '../telemetry';
import { EVENTS } from '../telemetry';
import { advanceWatermarkFrom } from '../watermark';
import { setSourceState } from '../health';
import { policyRetries, retryDelayMs } from './retry';
import { deletePage, persistPage, readPage, type StoredPage } from './page-store';
import { createHash } from 'node:crypto';
import { describeSecretRef } from '../auth/secrets';
import { bucketOf, fingerprint, loadSeen, parseFingerprint, writeSeen } from '../settle/seen-store';
import { advanceSettled } from '../settle/settled';

/**
 * A page claim lives this long (clock time) and is renewed while its holder works: at every
 * acknowledged batch and by a heartbeat every third of it. A holder that died stops renewing,
 * so its page is taken over within a minute; a live claim is never taken over.
 */
export const CLAIM_TTL_MS = 60_000;
const BOUNDARY_WINDOW_MS = 1000;
/**
 * Largest continuation and boundary-key list kept in the slice row (ARCHITECTURE invariant 9:
 * a Table string property holds 32K characters). Larger ones stay in the page copy the row
 * points to (`carryPage`).
 */
export const MAX_INLINE_NEXTLINK = 8_000;
export const MAX_INLINE_BOUNDARY_CHARS = 12_000;

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
  /** How long a claim lives without renewal (default CLAIM_TTL_MS); renewed every third of it. */
  claimTtlMs?: number;
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

/** The page's content once fetched, or read back from its persisted copy. */
type PageContent = Omit<StoredPage, 'v' | 'page'>;

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

  const slice = await ledger.getSlice(job.sourceId, job.sliceId);
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
  if (slice.claimOwner && slice.claimUntil > now) {
    // A live claim is never taken over, not even by a redelivery of the same message: its holder
    // is still working (it renews the claim). Come back when the claim would have lapsed; by then
    // the holder has recorded the page (this job is a no-op) or died (this job takes over).
    await deps.queue.send(job, { delayMs: slice.claimUntil - now + 1000 });
    return { outcome: 'claimed-elsewhere' };
  }

  // A source stopped by a ThirdPartyConfig error spends no request until its configuration changes.
  const health = await ledger.getHealth(source.id);
  if (health?.state === 'Error' && health.configHash === deps.configHashOf(source)) {
    const error = stoppedSourceError(health.lastError);
    const parked = await park(deps, source, slice, 'config', error, 0, { recordInHealth: false });
    return parked ? { outcome: 'parked' } : { outcome: 'claimed-elsewhere' };
  }

  // Claim.
  const earlierAttempts = slice.attempts;
  const claimed = await ledger.swapSlice({
    ...slice,
    state: 'fetching',
    claimOwner: meta.messageId,
    claimUntil: now + (deps.claimTtlMs ?? CLAIM_TTL_MS),
    attempts: slice.attempts + 1,
    firstAttemptAt: slice.firstAttemptAt || now,
    updatedAt: now,
  });
  if (!claimed) return { outcome: 'claimed-elsewhere' };
  const claim = new HeldClaim(deps, claimed);
  try {
    return await workOnClaimedPage(deps, source, claim, job, earlierAttempts, health);
  } catch (err) {
    // Anything thrown while holding the claim (storage, an unreadable page copy, a guard) is
    // retried with backoff and parked past the horizon, or parked at once when it cannot pass:
    // thrown back to the host, its redelivery would meet this job's own live claim, be deferred
    // as a new message and never count towards the poison queue (a slice stuck out of sight).
    const error = asCollectorError(err);
    if (error.code === 'ClaimLost') return { outcome: 'claimed-elsewhere', error };
    const held = await claim.finish();
    if (!held) return { outcome: 'claimed-elsewhere', error };
    deps.telemetry.count('errors', 1, { source: source.id, error_type: error.type, stage: 'processing', code: error.code });
    return scheduleRetryOrPark(deps, source, held, job, error, source.retry, 0, 'processing');
  } finally {
    claim.stop();
  }
}

/** The claimed part of a page job: obtain the page, deliver it, record it, continue. */
async function workOnClaimedPage(
  deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, earlierAttempts: number, health: HealthRow | undefined,
): Promise<PageResultSummary> {
  const { clock, log } = deps;
  const fields = { source: source.id, slice: claim.slice.id, page: job.page };
  const carried = claim.slice.carryPage >= 0 ? await readPage(deps.spill, source.id, claim.slice.id, claim.slice.carryPage) : undefined;
  if (claim.slice.carryPage >= 0 && !carried) throw firstPartyGeneric(`the copy of page ${claim.slice.carryPage} that holds this slice's continuation is missing`, { code: 'CarryMissing', retryable: false });

  // The page: its persisted copy when an earlier attempt got as far as persisting it (then a
  // destination may have acknowledged part of it: never fetch it again), else from the API.
  let content: PageContent | undefined;
  let persisted = false;
  let requests = 0;
  if (earlierAttempts > 0 || hasPartialMark(claim.slice, job.page)) {
    const stored = await readPage(deps.spill, source.id, claim.slice.id, job.page);
    if (stored) {
      content = stored;
      persisted = true;
    }
  }
  if (!content) {
    if (deps.budget) {
      const grant = await deps.budget.acquire(source.tenantId, priorityOf(claim.slice), `${claim.slice.id}#${job.page}`);
      if (!grant.granted) {
        const released = await claim.release({ attempts: Math.max(0, claim.slice.attempts - 1) });
        if (released) await deps.queue.send(job, { delayMs: grant.waitMs });
        return { outcome: 'deferred' };
      }
    }
    const clients = deps.clientsFor(source);
    let result: PageResult;
    try {
      result = await fetchWithTokenRenewal(deps, clients, requestFor(claim.slice, source, carried), source, claim.slice, () => requests++);
    } catch (err) {
      const held = await claim.finish();
      if (!held) return { outcome: 'claimed-elsewhere', error: asCollectorError(err) };
      return handleFetchFailure(deps, source, held, job, asCollectorError(err), requests, carried);
    }
    const built = await buildContent(deps, source, claim.slice, result, clients.api.api, carried?.boundaryKeys ?? claim.slice.boundaryKeys);
    if (built.events.length > 0 || !fitsInline(built)) {
      content = await persistPage(deps.spill, source.id, claim.slice.id, { v: 2, page: job.page, ...built });
      persisted = true;
    } else {
      content = built;
    }
  }

  // Forward to each destination that has not acknowledged this page yet.
  const failures = await deliver(deps, source, claim, job, content.events);
  if (failures.length) {
    const held = await claim.finish();
    if (!held) return { outcome: 'claimed-elsewhere' };
    return failDelivery(deps, source, held, job, failures, requests);
  }

  // The seen-store learns this page's rows once every destination has them (a redo overwrites it).
  for (const w of content.seenWrites ?? []) {
    await writeSeen(deps.seen, source.id, w.bucket, `${claim.slice.id}-p${job.page}`, { keys: w.keys, fps: w.fps });
  }

  // Record the page done, then enqueue the continuation.
  const done = !content.nextLink;
  const inline = fitsInline(content);
  const previousCarry = claim.slice.carryPage;
  const committed = await claim.commit((s) => ({
    ...s,
    page: job.page + 1,
    nextLink: inline ? content.nextLink ?? '' : '',
    boundaryKeys: inline ? content.boundaryKeys : [],
    carryPage: inline || done ? -1 : job.page,
    rows: s.rows + content.events.length,
    requests: s.requests + requests,
    state: done ? 'done' : 'fetching',
    attempts: 0,
    firstAttemptAt: 0,
    lastError: '',
    linkFailures: 0,
    resumeUntil: 0,
    oldestMs: s.oldestMs ? Math.min(s.oldestMs, content.oldestMs || s.oldestMs) : content.oldestMs,
    updatedAt: clock.now(),
  }));
  if (!committed) {
    log.log('error', 'lost the claim before recording the page; another worker will redo it from the page copy', fields);
    return { outcome: 'claimed-elsewhere' };
  }
  if (persisted && (inline || done)) await deletePage(deps.spill, source.id, committed.id, job.page).catch(() => undefined);
  if (previousCarry >= 0) await deletePage(deps.spill, source.id, committed.id, previousCarry).catch(() => undefined);
  // Never over an Error another instance wrote since this job read the health row (that would
  // silently resume a stopped source): the condition is checked inside the compare-and-swap.
  // lastSuccessAt rides on the watermark's health write when this page ends a live slice (issue 19).
  const successDue = health?.state === 'Collecting' && clock.now() - (health.lastSuccessAt || 0) >= 60_000;
  const advances = done && committed.kind === 'live';
  if (health?.state !== 'Collecting') await setSourceState(deps, source.id, 'Collecting', { configHash: deps.configHashOf(source), onlyFrom: ['Pending', 'Started', 'Initialized', 'Authenticated'] });
  else if (successDue && !advances) await deps.ledger.mergeHealth(source.id, { lastSuccessAt: clock.now() });
  if (!done) {
    await deps.queue.send({ v: 1, sourceId: source.id, sliceId: committed.id, page: job.page + 1, attempt: 0 });
    return { outcome: 'forwarded', rowsFetched: content.fetched, rowsForwarded: content.events.length };
  }
  if (committed.kind === 'live') {
    const completedUntil = await advanceWatermarkFrom(deps.ledger, source.id, health?.state === 'Collecting' ? health : undefined, successDue ? { lastSuccessAt: clock.now() } : {});
    if (completedUntil) deps.telemetry.gauge('lagSeconds', Math.max(0, Math.round((clock.now() - completedUntil) / 1000)), { source: source.id });
  }
  if (committed.kind === 'rescan' && committed.id.startsWith(`R${source.settleRereadsMs.length - 1}-`)) {
    await advanceSettled(deps.ledger, source, deps.seen);
  }
  return { outcome: 'slice-done', rowsFetched: content.fetched, rowsForwarded: content.events.length };
}

/** The error a stopped source's page jobs park with (from the stop's health record). */
function stoppedSourceError(lastError: string): CollectorError {
  let stoppedBy: { code?: unknown; message?: unknown; fix?: unknown } = {};
  try {
    const parsed = JSON.parse(lastError || '{}') as unknown;
    if (parsed && typeof parsed === 'object') stoppedBy = parsed as typeof stoppedBy;
  } catch {
    // a damaged record still stops the source; the message says less
  }
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return new CollectorError('ThirdPartyConfig', `the source is stopped: ${text(stoppedBy.message) ?? 'configuration error'}`, {
    code: text(stoppedBy.code) ?? 'SourceStopped', retryable: false, ...(text(stoppedBy.fix) ? { fix: text(stoppedBy.fix)! } : {}),
  });
}

function hasPartialMark(slice: SliceRow, page: number): boolean {
  return Object.values(slice.marks).some((m) => m.pagesDone > page || (m.pagesDone === page && (m.partialCount !== undefined || m.partialKey !== undefined)));
}

/** Whether the next request's continuation and boundary keys fit in the slice row. */
function fitsInline(content: Pick<PageContent, 'nextLink' | 'boundaryKeys'>): boolean {
  return (content.nextLink ?? '').length <= MAX_INLINE_NEXTLINK && JSON.stringify(content.boundaryKeys).length <= MAX_INLINE_BOUNDARY_CHARS;
}

/**
 * Sends the page's events to every destination of the source that lacks them, resuming a partial
 * delivery at the index its mark records (the page copy is immutable, so the index is exact).
 * Returns the destinations that failed; the others' marks are final for this page.
 */
async function deliver(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, events: TraceEvent[]): Promise<{ destination: string; error: CollectorError }[]> {
  const fields = { source: source.id, slice: claim.slice.id, page: job.page };
  const failures: { destination: string; error: CollectorError }[] = [];
  for (const destId of source.destinations) {
    const destination = deps.destinations.get(destId);
    if (!destination) continue;
    const mark: DestinationMark = claim.slice.marks[destId] ?? { pagesDone: 0, rows: 0 };
    if (mark.pagesDone > job.page) continue;
    let from = 0;
    if (mark.pagesDone === job.page && mark.partialCount !== undefined) from = Math.min(mark.partialCount, events.length);
    else if (mark.pagesDone === job.page && mark.partialKey) {
      // A mark written by an earlier version (the last event id delivered).
      const idx = events.findIndex((e) => e.eventId === mark.partialKey);
      if (idx >= 0) from = idx + 1;
      else deps.log.log('warn', 'partial delivery mark not found in the page; sending the whole page again', { ...fields, destination: destId });
    }
    const pending = events.slice(from);
    try {
      if (pending.length) {
        let already = 0, alreadyBytes = 0;
        await destination.send(pending, {
          sourceId: source.id, sliceId: claim.slice.id, page: job.page,
          onProgress: async (deliveredSoFar, bytesSoFar) => {
            const delivered = deliveredSoFar - already;
            already = deliveredSoFar;
            if (bytesSoFar !== undefined) {
              deps.telemetry.count('bytesSent', bytesSoFar - alreadyBytes, { source: source.id, destination: destId });
              alreadyBytes = bytesSoFar;
            }
            await claim.update((s) => {
              const cur: DestinationMark = s.marks[destId] ?? { pagesDone: job.page, rows: 0 };
              return { ...s, marks: { ...s.marks, [destId]: { pagesDone: job.page, rows: cur.rows + delivered, partialCount: from + deliveredSoFar } } };
            });
            deps.telemetry.count('rowsForwarded', delivered, { source: source.id, destination: destId });
          },
        });
      }
      claim.patchLocal((s) => {
        const cur: DestinationMark = s.marks[destId] ?? { pagesDone: job.page, rows: 0 };
        return { ...s, marks: { ...s.marks, [destId]: { pagesDone: job.page + 1, rows: cur.rows } } };
      });
    } catch (err) {
      const e = asCollectorError(err);
      if (e.code === 'ClaimLost') throw e;
      const error = e.type === 'FirstPartyGeneric' ? e : new CollectorError('FirstPartyGeneric', e.message, { code: e.code, retryable: e.retryable, ...(e.statusCode ? { statusCode: e.statusCode } : {}) });
      failures.push({ destination: destId, error });
      deps.telemetry.count('errors', 1, { source: source.id, error_type: 'FirstPartyGeneric', stage: 'sending', code: error.code });
      deps.log.log('warn', `destination ${destId} failed: ${error.message}`, { ...fields, destination: destId, errorType: error.type, code: error.code });
    }
  }
  return failures;
}

/**
 * The slice row while this worker holds its claim. Every write is a compare-and-swap serialised
 * through one chain (the delivery's progress marks and the heartbeat never race each other), and
 * every write renews the claim. A lost swap means another worker took the page over: the holder
 * stops (ClaimLost) and the taker resumes from the persisted page copy.
 */
class HeldClaim {
  private chain: Promise<unknown> = Promise.resolve();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lost = false;
  private readonly ttl: number;
  constructor(private readonly deps: WorkerDeps, public slice: SliceRow) {
    this.ttl = deps.claimTtlMs ?? CLAIM_TTL_MS;
    const renewEvery = this.ttl / 3;
    const realMs = deps.clock.toRealMs(renewEvery);
    if (realMs > 0) {
      this.heartbeat = setInterval(() => {
        if (this.deps.clock.now() + this.ttl - this.slice.claimUntil < renewEvery / 2) return;
        this.update((s) => s).catch(() => undefined);
      }, realMs);
      this.heartbeat.unref?.();
    }
  }

  /** Writes a change (and a renewed claim); throws ClaimLost when another worker took the page. */
  update(change: (s: SliceRow) => SliceRow): Promise<SliceRow> {
    const p = this.chain.then(() => this.write(change), () => this.write(change));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async write(change: (s: SliceRow) => SliceRow): Promise<SliceRow> {
    if (this.lost) throw firstPartyGeneric('lost the claim on the slice while delivering', { code: 'ClaimLost' });
    const now = this.deps.clock.now();
    const updated = await this.deps.ledger.swapSlice({ ...change(this.slice), claimUntil: now + this.ttl, updatedAt: now });
    if (!updated) {
      this.lost = true;
      throw firstPartyGeneric('lost the claim on the slice while delivering', { code: 'ClaimLost' });
    }
    this.slice = updated;
    return updated;
  }

  /** A change kept in memory until the next write (a destination's final mark for this page). */
  patchLocal(change: (s: SliceRow) => SliceRow): void {
    // After the writes in flight (a heartbeat that finishes later must not erase it).
    const apply = () => {
      this.slice = change(this.slice);
    };
    this.chain = this.chain.then(apply, apply);
  }

  /** The last write of the claim: the given change with the claim released. Undefined when lost. */
  async commit(change: (s: SliceRow) => SliceRow): Promise<SliceRow | undefined> {
    this.stop();
    await this.chain;
    if (this.lost) return undefined;
    const updated = await this.deps.ledger.swapSlice({ ...change(this.slice), claimOwner: '', claimUntil: 0 });
    if (updated) this.slice = updated;
    else this.lost = true;
    return updated;
  }

  /** Stops renewing and waits for writes in flight: the row to hand to a retry or park, or undefined when lost. */
  async finish(): Promise<SliceRow | undefined> {
    this.stop();
    await this.chain;
    return this.lost ? undefined : this.slice;
  }

  /** Gives the claim up without recording the page (budget refusal). */
  release(patch: Partial<SliceRow> = {}): Promise<SliceRow | undefined> {
    return this.commit((s) => ({ ...s, ...patch, updatedAt: this.deps.clock.now() }));
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

function requestFor(slice: SliceRow, source: SourceConfig, carried: StoredPage | undefined): PageRequest {
  if (slice.page === 0) return { kind: 'window', startMs: slice.startMs, endMs: slice.endMs, top: source.pageSize };
  // Self-healed: re-query the rest of the slice (everything up to the oldest row received).
  if (slice.resumeUntil) return { kind: 'window', startMs: slice.startMs, endMs: Math.min(slice.endMs, slice.resumeUntil), top: source.pageSize };
  const link = slice.nextLink || carried?.nextLink;
  if (link) return { kind: 'continuation', url: link };
  return { kind: 'window', startMs: slice.startMs, endMs: slice.endMs, top: source.pageSize };
}

async function fetchWithTokenRenewal(deps: WorkerDeps, clients: SourceClients, request: PageRequest, source: SourceConfig, slice: SliceRow, counted: () => void): Promise<PageResult> {
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
async function buildContent(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, result: PageResult, api: string, previousBoundaryKeys: string[]): Promise<PageContent> {
  // Rows written by an earlier version hold the row keys themselves (22 characters): hash them.
  const previousBoundary = previousBoundaryKeys.map((k) => (k.length === 16 ? k : boundaryHash(k)));
  const seen = new Set(previousBoundary);
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
    const hashed = boundaryHash(key);
    if (seen.has(hashed)) {
      repeats++;
      return;
    }
    seen.add(hashed);
    kept.push({ row, key, ...(result.raws ? { raw: result.raws[i] } : {}) });
  });
  // Every row at the page's oldest instant (and a second after it) may come again on the next
  // page: all of them are remembered, however many (a distribution list puts thousands of rows in
  // one millisecond), as short hashes; a list too long for the slice row stays in the page copy.
  const boundaryKeys: string[] = [];
  for (let i = result.rows.length - 1; i >= 0; i--) {
    const t = receivedMs(result.rows[i]!.receivedDateTime);
    if (!(t <= oldest + BOUNDARY_WINDOW_MS)) break;
    boundaryKeys.push(boundaryHash(rowKey(source.tenantId, result.rows[i]!)));
  }
  // A burst longer than a page (a mail to thousands of recipients at one instant, $top smaller)
  // spans several pages, and the next page may repeat every row of the instant served so far,
  // not only the last page's: while the oldest instant stays within the window, keep the keys.
  if (slice.page > 0 && slice.oldestMs && Number.isFinite(oldest) && slice.oldestMs <= oldest + BOUNDARY_WINDOW_MS) {
    const mine = new Set(boundaryKeys);
    for (const k of previousBoundary) if (!mine.has(k)) boundaryKeys.push(k);
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
  };
}

/** A row key as a 16-character hash (96 bits): boundary-repeat detection within one slice. */
export function boundaryHash(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
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

async function handleFetchFailure(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, error: CollectorError, requests: number, carried: StoredPage | undefined): Promise<PageResultSummary> {
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
  if (error.code === 'CorruptNextLink' && requestFor(slice, source, carried).kind === 'continuation') {
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
  policy: RetryPolicyConfig, requests: number, stage: 'receiving' | 'sending' | 'processing', parkReasonOverride?: string,
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
