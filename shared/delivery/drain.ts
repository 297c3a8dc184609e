/**
 * The consumer side of a destination's backlog: the drain job (`kind: "delivery"`) delivers what
 * waits for one destination of one source, in unit order, from the persisted copies (invariant 8),
 * and nothing else waits for it (invariant 11).
 *
 * - One drain at a time per (source, destination): a lease on the progress row (compare-and-swap),
 *   renewed while it works; a second drain job meeting a live lease ends at once.
 * - A unit is delivered only once its producer committed it (its slice recorded the page): a page
 *   job that died after handing a page off finds the entry when it runs again and leaves the page to
 *   the backlog, so the page never reaches the destination twice.
 * - A retryable failure retries the whole drain later on the destination's retry policy (backoff up
 *   to its maxInterval, without a horizon: the backlog limits decide when to stop, not a clock); a
 *   401, 403 or 404 parks the destination (its configuration is wrong, every unit would fail); any
 *   other permanent error parks that unit alone. Parked units and destinations are replayable.
 * - Each pass recounts the backlog exactly from the listing; once nothing waits, the destination is
 *   `ok` again, decided by one compare-and-swap against a hand-off racing in.
 */
import type { SourceConfig } from '../components';
import { asCollectorError, firstPartyGeneric, type CollectorError } from '../errors';
import { nextAttempt, type DeliveryJob, type JobQueue } from '../queue/jobs';
import type { Ledger } from '../state/ledger';
import type { Destination } from '../destinations/destination';
import type { Clock } from '../time/clock';
import type { Logger } from '../log';
import { errorTags, type Telemetry } from '../telemetry';
import { retryDelayMs, policyRetries } from '../worker/retry';
import { startJobTimer } from '../worker/stages/job-timeout';
import type { MessageMeta, PageResultSummary } from '../worker/deps';
import type { CollectorConfig } from '../components';
import { announceParked, backlogLimitsOf, retryPolicyOfDestination } from './hand-off';
import {
  claimDrain, drained, drainFailed, limitPassed, park, parsePageUnit, recount, releaseDrain, renewDrain,
  type BacklogEntry, type BacklogStore, type DestinationProgress,
  isDetailUnit,
} from './progress';

export interface DrainDeps {
  config: CollectorConfig;
  backlog: BacklogStore;
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  destinations: ReadonlyMap<string, Destination>;
  claimTtlMs?: number;
}

/** A drain pass stops taking new units after this much real time, and queues its continuation. */
export const DRAIN_PASS_MS = 4 * 60_000;
/** When only units whose producer has not committed yet wait, the drain looks again this much later (clock time). */
export const UNCOMMITTED_RETRY_MS = 60_000;
const LEASE_TTL_MS = 60_000;

/** Statuses that say the destination's setup is wrong (every unit would fail the same way). */
const CONFIG_STATUSES = new Set([401, 403, 404]);

export async function processDeliveryJob(deps: DrainDeps, job: DeliveryJob, meta: MessageMeta): Promise<PageResultSummary> {
  const { backlog, clock, log } = deps;
  const fields = { source: job.sourceId, destination: job.destination };
  const source = deps.config.sources.find((s) => s.id === job.sourceId);
  if (!source) {
    log.log('warn', 'drain job for a source that is no longer configured; dropped (its backlog stays in storage)', fields);
    return { outcome: 'unknown-source' };
  }
  const destination = deps.destinations.get(job.destination);
  if (!destination || !source.destinations.includes(job.destination)) {
    log.log('warn', `drain job for destination ${job.destination}, which source ${source.id} no longer feeds; dropped (its backlog stays in storage until the destination is configured again)`, fields);
    return { outcome: 'unknown-source' };
  }
  const now = clock.now();
  if (job.notBefore !== undefined && job.notBefore > now) {
    await deps.queue.send(job, { delayMs: job.notBefore - now });
    return { outcome: 'deferred' };
  }
  const p = await backlog.getProgress(source.id, job.destination);
  if (!p || p.state !== 'lagging') return { outcome: 'duplicate' };
  if (p.claimOwner && p.claimOwner !== meta.messageId && p.claimUntil > now) return watchLease(deps, job, p, now);
  if (p.nextAttemptAt > now) {
    await deps.queue.send({ ...withoutWatch(job), notBefore: p.nextAttemptAt }, { delayMs: p.nextAttemptAt - now });
    return { outcome: 'deferred' };
  }
  const ttlMs = deps.claimTtlMs ?? LEASE_TTL_MS;
  const claimed = await backlog.swapProgress(claimDrain(p, { owner: meta.messageId, ttlMs }, now));
  if (!claimed) return afterLostLease(deps, job, { outcome: 'claimed-elsewhere' });
  const lease = new DrainLease(deps, claimed, meta.messageId, ttlMs);
  let result: PageResultSummary;
  try {
    result = await drainPass(deps, source, destination, withoutWatch(job), lease);
  } finally {
    lease.stop();
  }
  return result.outcome === 'claimed-elsewhere' ? afterLostLease(deps, job, result) : result;
}

function withoutWatch(job: DeliveryJob): DeliveryJob {
  const { watched: _watched, ...rest } = job;
  return rest;
}

/**
 * Another job holds the drain lease. Its holder may be alive (its own job goes on) or dead (a
 * killed process: its lease lapses, and nothing else would come back for the backlog until the
 * recovery sweep, 15 minutes on). So this job comes back once that lease would have lapsed, and
 * ends then only if the holder renewed it meanwhile, or another took it: a live drain. A lapsed
 * lease is taken over. Duplicate drain jobs therefore end within two looks, and a backlog never
 * waits behind the lease of a dead drain (issue 17: the fault test's flaky destination stalled).
 */
async function watchLease(deps: DrainDeps, job: DeliveryJob, p: DestinationProgress, now: number): Promise<PageResultSummary> {
  const seen = job.watched;
  if (seen && (seen.owner !== p.claimOwner || p.claimUntil > seen.until)) return { outcome: 'claimed-elsewhere' };
  const delayMs = Math.max(1000, p.claimUntil - now + 1000);
  await deps.queue.send({ ...job, watched: { owner: p.claimOwner, until: p.claimUntil }, notBefore: now + delayMs }, { delayMs });
  return { outcome: 'deferred' };
}

/**
 * This drain lost its lease (a compare-and-swap or a renewal found another owner, or the row
 * changed state). Unless the destination no longer lags, look at the lease as `watchLease` does,
 * so the backlog is not left without a drain.
 */
async function afterLostLease(deps: DrainDeps, job: DeliveryJob, result: PageResultSummary): Promise<PageResultSummary> {
  const now = deps.clock.now();
  const fresh = await deps.backlog.getProgress(job.sourceId, job.destination);
  if (!fresh || fresh.state !== 'lagging') return result;
  // A live lease: a first look (comes back after it); none: go again a second later.
  if (fresh.claimOwner && fresh.claimUntil > now) await watchLease(deps, withoutWatch(job), fresh, now);
  else await deps.queue.send({ ...withoutWatch(job), attempt: 0 }, { delayMs: 1000 });
  return { ...result, outcome: 'deferred' };
}

/** The progress row while this drain holds its lease: every write is a compare-and-swap through one chain. */
class DrainLease {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | undefined;
  lost = false;
  constructor(private readonly deps: DrainDeps, public progress: DestinationProgress, private readonly owner: string, private readonly ttlMs: number) {
    const realMs = deps.clock.toRealMs(ttlMs / 3);
    if (realMs > 0) {
      this.timer = setInterval(() => { this.update((x) => renewDrain(x, { owner, ttlMs }, deps.clock.now())).catch(() => undefined); }, realMs);
      this.timer.unref?.();
    }
  }

  /** Writes a change; false when another writer changed the row (a hand-off: re-read and apply again). */
  update(change: (p: DestinationProgress) => DestinationProgress): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      for (let attempt = 0; attempt < 20 && !this.lost; attempt++) {
        const written = await this.deps.backlog.swapProgress(change(this.progress));
        if (written) {
          this.progress = written;
          return true;
        }
        const fresh = await this.deps.backlog.getProgress(this.progress.sourceId, this.progress.destination);
        if (!fresh || fresh.claimOwner !== this.owner || fresh.state !== this.progress.state) {
          this.lost = true;
          return false;
        }
        this.progress = fresh;
      }
      return false;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  renew(): Promise<boolean> {
    return this.update((x) => renewDrain(x, { owner: this.owner, ttlMs: this.ttlMs }, this.deps.clock.now()));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async settle(): Promise<void> {
    this.stop();
    await this.chain;
  }
}

interface Tally { pages: number; events: number; bytes: number; oldestAt: number; parkedEntries: number; uncommitted: number; left: number; delivered: number; drainedEvents?: number }

async function drainPass(deps: DrainDeps, source: SourceConfig, destination: Destination, job: DeliveryJob, lease: DrainLease): Promise<PageResultSummary> {
  const { backlog, clock, log } = deps;
  const destId = destination.id;
  const fields = { source: source.id, destination: destId };
  const started = performance.now();
  /** Events delivered by this job (the progress row counts them when the job ends: every path below ends it). */
  let forwarded = 0;
  for (let pass = 0; pass < 100; pass++) {
    const t: Tally = { pages: 0, events: 0, bytes: 0, oldestAt: 0, parkedEntries: 0, uncommitted: 0, left: 0, delivered: 0 };
    const count = (e: BacklogEntry) => {
      t.pages++;
      t.events += Math.max(0, e.events - e.delivered);
      t.bytes += e.bytes;
      t.oldestAt = t.oldestAt ? Math.min(t.oldestAt, e.enqueuedAt) : e.enqueuedAt;
    };
    for await (const entry of backlog.listEntries(source.id, destId)) {
      if (lease.lost) return { outcome: 'claimed-elsewhere' };
      if (entry.state === 'parked') {
        t.parkedEntries++;
        continue;
      }
      if (performance.now() - started > DRAIN_PASS_MS) {
        count(entry);
        t.left++;
        continue;
      }
      if (!(await committed(deps, source.id, entry.unit))) {
        count(entry);
        t.uncommitted++;
        continue;
      }
      const result = await deliverEntry(deps, source, destination, entry, lease);
      if (result.outcome === 'delivered') {
        t.delivered++;
        forwarded += result.events;
        if (!(await lease.renew())) return { outcome: 'claimed-elsewhere', rowsForwarded: forwarded };
        continue;
      }
      if (result.outcome === 'unit-parked') {
        t.parkedEntries++;
        continue;
      }
      if (result.outcome === 'lost') return { outcome: 'claimed-elsewhere' };
      // The destination failed: count what is left without another send, then retry the drain later.
      count(entry);
      for await (const rest of backlog.listEntries(source.id, destId)) {
        if (rest.unit <= entry.unit) continue;
        if (rest.state === 'parked') t.parkedEntries++;
        else count(rest);
      }
      return failPass(deps, source, destId, job, lease, result.error, { ...t, drainedEvents: forwarded });
    }
    await lease.settle();
    if (lease.lost) return { outcome: 'claimed-elsewhere' };
    const now = clock.now();
    if (t.pages > 0) {
      // Units wait that this pass did not take (its time is up, or their producer has not committed yet).
      await lease.update((x) => releaseDrain(recount(x, { ...t, drainedEvents: forwarded }, now)));
      gauges(deps, lease.progress);
      const delayMs = t.left > 0 ? 0 : UNCOMMITTED_RETRY_MS;
      await deps.queue.send({ ...job, attempt: 0 }, { delayMs });
      log.log('info', `drain of ${destId} for ${source.id}: delivered ${t.delivered} unit(s), ${t.pages} still wait${t.left ? ' (continued in a new job)' : ' (their pages are not recorded yet)'}`, fields);
      return { outcome: 'forwarded', rowsForwarded: forwarded };
    }
    // Nothing waited in this pass. Decide on a fresh read of the row, then a fresh listing: a
    // hand-off writes its entry before its compare-and-swap, so either this listing sees the entry
    // or the swap below fails on the hand-off's write (and the drain goes round again).
    const fresh = await backlog.getProgress(source.id, destId);
    if (!fresh || fresh.state !== 'lagging' || fresh.claimOwner !== lease.progress.claimOwner) return { outcome: 'claimed-elsewhere', rowsForwarded: forwarded };
    let waiting = false, parkedNow = 0;
    for await (const e of backlog.listEntries(source.id, destId)) {
      if (e.state === 'parked') parkedNow++;
      else {
        waiting = true;
        break;
      }
    }
    lease.progress = fresh;
    if (waiting) continue;
    const done = await backlog.swapProgress(drained(fresh, { drainedEvents: forwarded, parkedEntries: parkedNow }, now));
    if (done) {
      lease.progress = done;
      // Pages go straight to it again (a hand-off racing in after this sets the hint back).
      await deps.ledger.markBehind(source.id, destId, false);
      gauges(deps, done);
      log.log('info', `destination ${destId} caught up with source ${source.id}: its backlog is empty, pages go straight to it again`, fields);
      return { outcome: 'slice-done', rowsForwarded: forwarded };
    }
  }
  // A hundred rounds of hand-offs racing the empty check: go on in a new job, the lease released for it.
  await lease.settle();
  if (!lease.lost) await lease.update((x) => releaseDrain(x));
  await deps.queue.send({ ...job, attempt: 0 });
  return { outcome: 'forwarded', rowsForwarded: forwarded };
}

/** Whether a unit's producer committed it (a page: its slice recorded the page; a pruned slice did long ago). */
async function committed(deps: DrainDeps, sourceId: string, unit: string): Promise<boolean> {
  const page = parsePageUnit(unit);
  if (!page) return true;
  const slice = await deps.ledger.getSlice(sourceId, page.sliceId);
  return !slice || slice.page > page.page;
}

type EntryResult = { outcome: 'delivered'; events: number } | { outcome: 'unit-parked' } | { outcome: 'failed'; error: CollectorError } | { outcome: 'lost' };

async function deliverEntry(deps: DrainDeps, source: SourceConfig, destination: Destination, entry: BacklogEntry, lease: DrainLease): Promise<EntryResult> {
  const { backlog } = deps;
  const destId = destination.id;
  const stored = await backlog.readUnit(source.id, destId, entry.unit);
  if (!stored) {
    await backlog.markEntry(source.id, destId, entry, { state: 'parked', lastError: JSON.stringify({ type: 'FirstPartyGeneric', code: 'BacklogCopyMissing', message: `the backlog copy of ${entry.unit} is missing` }) });
    deps.log.log('error', `the backlog copy of ${entry.unit} for destination ${destId} is missing; the unit is parked`, { source: source.id, destination: destId });
    return { outcome: 'unit-parked' };
  }
  let current = entry;
  const from = Math.min(entry.delivered, stored.events.length);
  const page = parsePageUnit(entry.unit);
  const timer = startJobTimer(deps.clock, source, `the backlog unit ${entry.unit} for destination ${destId}`);
  try {
    if (from < stored.events.length) {
      let already = 0, alreadyBytes = 0;
      await destination.send(stored.events.slice(from), {
        sourceId: source.id, sliceId: page?.sliceId ?? entry.unit, page: page?.page ?? 0, signal: timer.signal,
        onProgress: async (deliveredSoFar, bytesSoFar) => {
          const delivered = deliveredSoFar - already;
          already = deliveredSoFar;
          if (bytesSoFar !== undefined) {
            deps.telemetry.count('bytesSent', bytesSoFar - alreadyBytes, { source: source.id, destination: destId });
            alreadyBytes = bytesSoFar;
          }
          const marked = await backlog.markEntry(source.id, destId, current, { delivered: from + deliveredSoFar });
          if (!marked) throw lostLease();
          current = marked;
          deps.telemetry.count(isDetailUnit(entry.unit) ? 'detailEvents' : 'rowsForwarded', delivered, { source: source.id, destination: destId });
          if (!(await lease.renew())) throw lostLease();
        },
      });
    }
  } catch (err) {
    const raw = asCollectorError(err);
    if (raw.code === 'ClaimLost') return { outcome: 'lost' };
    const error = timer.expired() ?? raw;
    deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'sending', error, destination: destId }));
    const policy = retryPolicyOfDestination(deps.config, destId);
    if (policyRetries(policy, error) || CONFIG_STATUSES.has(error.statusCode ?? 0)) return { outcome: 'failed', error };
    // Permanent for this unit only (the destination refused its content): parked alone, replayable.
    await backlog.markEntry(source.id, destId, current, { state: 'parked', lastError: JSON.stringify(error.toHealth()) });
    deps.log.log('error', `destination ${destId} refused ${entry.unit} permanently (${error.message}); that unit is parked, the rest of the backlog goes on`, { source: source.id, destination: destId, code: error.code });
    return { outcome: 'unit-parked' };
  } finally {
    timer.stop();
  }
  await backlog.removeEntry(source.id, destId, entry.unit);
  return { outcome: 'delivered', events: stored.events.length - from };
}

function lostLease(): CollectorError {
  return firstPartyGeneric('lost the drain lease while delivering', { code: 'ClaimLost' });
}

async function failPass(deps: DrainDeps, source: SourceConfig, destId: string, job: DeliveryJob, lease: DrainLease, error: CollectorError, t: Tally): Promise<PageResultSummary> {
  const now = deps.clock.now();
  await lease.settle();
  if (lease.lost) return { outcome: 'claimed-elsewhere', error };
  if (CONFIG_STATUSES.has(error.statusCode ?? 0)) return parkDestination(deps, lease, 'config', error);
  const policy = retryPolicyOfDestination(deps.config, destId);
  const delayMs = retryDelayMs(policy, lease.progress.attempts, error.retryAfterSec);
  const limits = backlogLimitsOf(deps.config, destId);
  const updated = await lease.update((x) => drainFailed(recount(x, { ...t, drainedEvents: t.drainedEvents ?? 0 }, now), { lastError: JSON.stringify(error.toHealth()), delayMs }, now));
  if (!updated) return { outcome: 'claimed-elsewhere', error };
  gauges(deps, lease.progress);
  const passed = limitPassed(lease.progress, limits, now);
  if (passed) return parkDestination(deps, lease, passed, error);
  await deps.queue.send(nextAttempt({ ...job, notBefore: now + delayMs }), { delayMs });
  deps.log.log('warn', `destination ${destId} still failing (${error.message}); its backlog for ${source.id} (${t.pages} unit(s)) is retried in ${Math.round(delayMs / 1000)} s`, { source: source.id, destination: destId, code: error.code, attempt: lease.progress.attempts });
  return { outcome: 'retry-scheduled', error };
}

async function parkDestination(deps: DrainDeps, lease: DrainLease, reason: string, error?: CollectorError): Promise<PageResultSummary> {
  const now = deps.clock.now();
  const written = await lease.update((x) => park(x, { reason, ...(error ? { lastError: JSON.stringify(error.toHealth()) } : {}) }, now));
  if (!written) return { outcome: 'claimed-elsewhere', ...(error ? { error } : {}) };
  announceParked(deps, lease.progress);
  gauges(deps, lease.progress);
  return { outcome: 'parked', ...(error ? { error } : {}) };
}

/** The backlog gauges of one destination and source, from a progress row. */
export function gauges(deps: Pick<DrainDeps, 'telemetry' | 'clock'>, p: DestinationProgress): void {
  const tags = { source: p.sourceId, destination: p.destination };
  deps.telemetry.gauge('backlogPages', p.pages, tags);
  deps.telemetry.gauge('backlogBytes', p.bytes, tags);
  deps.telemetry.gauge('backlogAgeSeconds', p.oldestAt ? Math.max(0, Math.round((deps.clock.now() - p.oldestAt) / 1000)) : 0, tags);
  deps.telemetry.gauge('destinationsParked', p.state === 'parked' ? 1 : 0, tags);
}
