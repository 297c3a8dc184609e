/**
 * The detail job (issue 17): one qualifying row's getDetailsByRecipient answer, delivered to every
 * destination of its source as detail events. Like a page job it is guarded, claimed, obtained
 * within the budget, delivered, committed, retried and parked:
 *
 *   guard   → the record exists, is unfinished and unclaimed, its source collecting; a row older
 *             than `details.retention` is skipped (retention), a day past its cap skipped (cap)
 *   budget  → one request at priority `detail` (the lowest: shared/budget); a refusal sends the
 *             job back with the budget's wait (its ticket), the record untouched
 *   claim   → a compare-and-swap lease on the record (DetailClaim)
 *   cap     → the day's request counter, by compare-and-swap, before the request
 *   fetch   → the answer (each `@odata.nextLink` one more budgeted request), persisted in the
 *             record BEFORE the first send: every retry delivers the same events (invariant 8)
 *   deliver → deliverDetailEvents (shared/details/deliver.ts), a mark per destination; a destination
 *             that fails or is behind gets the events through its own backlog (shared/delivery)
 *   commit  → done; the answer dropped from the record
 *
 * Every failure is retried on the source's retry policy (a destination's on its own policy) and
 * parked past the horizon or on a permanent error. A job is always sent before the record write
 * that hands the work on (a retry, a release), so a crash between the two leaves a duplicate job
 * (a no-op at the guard), never a record without a job.
 */
import type { RetryPolicyConfig } from '../config-common/types';
import type { SourceConfig } from '../components';
import { CollectorError, asCollectorError } from '../errors';
import { makeDetailEvents, type MessageTraceDetail } from '../model/row';
import { nextAttempt, type DetailJob } from '../queue/jobs';
import { errorTags } from '../telemetry';
import { policyRetries, retryDelayMs } from '../worker/retry';
import { stoppedSourceError } from '../worker/stages/guard';
import { startJobTimer, type JobTimer } from '../worker/stages/job-timeout';
import type { MessageMeta, PageResultSummary, WorkerDeps } from '../worker/deps';
import type { DetailRequest } from '../api/client';
import { DetailClaim } from './claim';
import { deliverDetailEvents, type DetailDeliveryFailure } from './deliver';
import { finish, park, persistAnswer, release, retryLater, skip, touch } from './machine';
import { utcDay, type DetailRecord, type DetailSkipReason, type DetailStore } from './store';

/** A refused detail job that comes back later than this records its due time in the record (the sweep then leaves it alone). */
export const LONG_WAIT_MS = 10 * 60_000;

type Deps = WorkerDeps & { details: DetailStore };

export async function processDetailJob(deps: WorkerDeps, job: DetailJob, meta: MessageMeta): Promise<PageResultSummary> {
  const fields = { source: job.sourceId, record: job.record };
  const source = deps.config.sources.find((s) => s.id === job.sourceId);
  if (!source) {
    deps.log.log('warn', 'detail job for a source that is no longer configured; dropped', fields);
    return { outcome: 'unknown-source' };
  }
  if (!deps.details || !source.details?.enabled) {
    // The record stays pending: the planner's detail sweep sends its job again once details are on.
    deps.log.log('info', 'detail job of a source whose detail enrichment is off; dropped', fields);
    return { outcome: 'duplicate' };
  }
  const d = deps as Deps;
  const now = deps.clock.now();
  if (job.notBefore !== undefined && job.notBefore > now) {
    await deps.queue.send(job, { delayMs: job.notBefore - now });
    return { outcome: 'deferred' };
  }
  const record = await d.details.get(source.id, job.record);
  if (!record) {
    deps.log.log('error', 'detail job for a detail record that does not exist; dropped', fields);
    return { outcome: 'unknown-slice' };
  }
  if (record.state === 'done' || record.state === 'parked' || record.state === 'skipped') return { outcome: 'duplicate' };
  if (record.claimOwner && record.claimUntil > now) {
    await deps.queue.send(job, { delayMs: record.claimUntil - now + 1000 });
    return { outcome: 'claimed-elsewhere' };
  }
  const health = await deps.ledger.getHealth(source.id);
  if (health?.state === 'Error' && health.configHash === deps.configHashOf(source)) {
    const error = stoppedSourceError(source.id, health.lastError);
    return (await parkUnclaimed(d, source, record, 'config', error)) ? { outcome: 'parked', error } : { outcome: 'claimed-elsewhere' };
  }
  const opts = source.details;
  if (!record.answer) {
    if (now - record.receivedMs > opts.retentionMs) return skipUnclaimed(d, source, record, 'retention');
    if ((await d.details.getDay(source.id, utcDay(now))).requests >= opts.dailyRequestCap) return skipUnclaimed(d, source, record, 'cap');
    if (deps.budget) {
      const grant = await deps.budget.acquire(source.tenantId, 'detail', `D${record.key}`);
      if (!grant.granted) return deferUnclaimed(d, record, job, grant.waitMs);
    }
  }
  // An answer persisted by an earlier attempt: that attempt may have reached delivery.
  const answeredBefore = record.answer !== undefined;
  const held = await DetailClaim.take(d, record, meta.messageId);
  if (!held) return { outcome: 'claimed-elsewhere' };
  const timer = startJobTimer(deps.clock, source, `the detail request of a row`);
  try {
    if (!held.record.answer) {
      const fetched = await fetchAnswer(d, source, held, job, timer);
      if (fetched) return fetched;
    }
    const r = held.record;
    const events = makeDetailEvents({
      tenantId: source.tenantId, sourceId: source.id, api: deps.clientsFor(source).api.api,
      collectedAt: new Date(r.fetchedAt || deps.clock.now()).toISOString(), fields: source.fields, row: r.row, details: r.answer ?? [],
    });
    const failures = await deliverDetailEvents(deps, source, held, events, {
      signal: timer.signal, expired: () => timer.expired(), behind: health?.behind ?? [], retried: answeredBefore,
    });
    if (failures.length) return await failDelivery(d, source, held, job, failures);
    const doneRecord = await held.commit((x) => finish(x, deps.clock.now()));
    if (!doneRecord) return { outcome: 'claimed-elsewhere' };
    await d.details.addToDay(source.id, utcDay(deps.clock.now()), { done: 1, events: events.length });
    deps.telemetry.record('detailDelay', Math.max(0, (deps.clock.now() - doneRecord.collectedAt) / 1000), { source: source.id });
    return { outcome: 'detail-done', rowsForwarded: events.length };
  } catch (err) {
    const error = timer.expired() ?? asCollectorError(err);
    if (error.code === 'ClaimLost' || held.isLost) return { outcome: 'claimed-elsewhere', error };
    deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'processing', error }));
    return retryOrPark(d, source, held, job, error, source.retry, 0, 'processing');
  } finally {
    timer.stop();
    held.stop();
  }
}

/**
 * The complete answer of the row, persisted in the record; undefined when it is (the claim still
 * held), else the outcome that ends the job (a budget wait in the middle of the paging, the cap,
 * a failed request).
 */
async function fetchAnswer(d: Deps, source: SourceConfig, held: DetailClaim, job: DetailJob, timer: JobTimer): Promise<PageResultSummary | undefined> {
  const clients = d.clientsFor(source);
  if (!clients.api.fetchDetails) {
    const error = new CollectorError('ThirdPartyConfig', `the ${clients.api.api} API has no detail request built`, {
      code: 'DetailsUnsupported', retryable: false, fix: 'detail enrichment needs "api": "graph"; remove "details" from this source or collect it through Graph',
    });
    return parkHeld(d, source, held, 'config', error, 0);
  }
  const today = () => utcDay(d.clock.now());
  const opts = source.details!;
  let details: MessageTraceDetail[] = [...(held.record.partial?.details ?? [])];
  let link = held.record.partial?.nextLink;
  let requests = 0;
  let renewed = false;
  let haveSlot = true; // the guard's grant is for the first request
  for (;;) {
    if (!haveSlot && d.budget) {
      const grant = await d.budget.acquire(source.tenantId, 'detail', `D${held.record.key}`);
      if (!grant.granted) {
        // Come back for the rest of the answer; what was fetched so far waits in the record.
        const nextAt = d.clock.now() + grant.waitMs;
        await d.queue.send(job, { delayMs: grant.waitMs });
        await held.commit((r) => release(r, { nextAt, requests, ...(link ? { partial: { details, nextLink: link } } : {}) }, d.clock.now()));
        return { outcome: 'deferred' };
      }
    }
    haveSlot = false;
    // The cap counts requests, before each is sent. A row's first request is refused past the cap;
    // its follow-ups (a paged answer, a renewed token) are counted but always allowed.
    const counted = await d.details.addToDay(source.id, today(), { requests: 1 }, link || renewed ? undefined : opts.dailyRequestCap);
    if (!counted) {
      const skipped = await held.commit((r) => skip(r, { reason: 'cap' }, d.clock.now()));
      if (!skipped) return { outcome: 'claimed-elsewhere' };
      await d.details.addToDay(source.id, today(), { skippedCap: 1 });
      d.telemetry.count('detailsSkipped', 1, { source: source.id, reason: 'cap' });
      return { outcome: 'skipped' };
    }
    const request: DetailRequest = link ? { kind: 'continuation', url: link } : { kind: 'first', traceId: held.record.row.id, recipientAddress: held.record.row.recipientAddress };
    requests++;
    try {
      const res = await clients.api.fetchDetails(request, { signal: timer.signal });
      d.telemetry.count('detailRequests', 1, { source: source.id, status: '200' });
      if (res.bytes !== undefined) d.telemetry.count('bytesReceived', res.bytes, { source: source.id });
      details = [...details, ...res.details];
      if (res.nextLink) {
        link = res.nextLink;
        continue;
      }
    } catch (err) {
      const error = timer.expired() ?? asCollectorError(err);
      d.telemetry.count('detailRequests', 1, { source: source.id, status: error.statusCode ? String(error.statusCode) : 'error' });
      if (error.statusCode === 401 && error.type === 'ThirdPartyGeneric' && !renewed && !timer.signal.aborted) {
        // A 401 on a token that was valid: renew the credential once and ask again (one more budgeted request).
        clients.credential.renew();
        renewed = true;
        continue;
      }
      return handleFetchFailure(d, source, held, job, error, requests, link !== undefined);
    }
    await held.update((r) => persistAnswer(r, { answer: details, requests }, d.clock.now()));
    return undefined;
  }
}

/** A failed detail request: pause the tenant on a 429, park on a setup error, else retry or park. */
async function handleFetchFailure(d: Deps, source: SourceConfig, held: DetailClaim, job: DetailJob, error: CollectorError, requests: number, continuation: boolean): Promise<PageResultSummary> {
  d.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'receiving', error }));
  if (error.statusCode === 429 && error.retryAfterSec !== undefined && d.budget) {
    await d.budget.pause(source.tenantId, d.clock.now() + error.retryAfterSec * 1000, 'the API answered a detail request with 429 and Retry-After');
  }
  if (error.type === 'ThirdPartyConfig') {
    await d.ledger.mergeHealth(source.id, { lastError: JSON.stringify(error.toHealth()), lastErrorAt: d.clock.now() });
    return parkHeld(d, source, held, 'config', error, requests);
  }
  // A corrupt continuation: the next attempt asks for the whole answer again (nothing was sent yet).
  if (error.code === 'CorruptNextLink' && continuation) held.record = { ...held.record, partial: undefined } as DetailRecord;
  return retryOrPark(d, source, held, job, error, source.retry, requests, 'receiving');
}

/**
 * The events could not even be handed to a failing destination's backlog (a storage failure):
 * retried on the source's policy, the destinations already marked are not sent again.
 */
async function failDelivery(d: Deps, source: SourceConfig, held: DetailClaim, job: DetailJob, failures: DetailDeliveryFailure[]): Promise<PageResultSummary> {
  const chosen = failures[0]!;
  const error = new CollectorError('FirstPartyGeneric', `destination ${chosen.destination}: ${chosen.error.message}`, {
    code: chosen.error.code, retryable: chosen.error.retryable,
    ...(chosen.error.statusCode ? { statusCode: chosen.error.statusCode } : {}),
    ...(chosen.error.fix ? { fix: chosen.error.fix } : {}),
  });
  return retryOrPark(d, source, held, job, error, source.retry, 0, 'sending', `destination:${chosen.destination}`);
}

async function retryOrPark(
  d: Deps, source: SourceConfig, held: DetailClaim, job: DetailJob, error: CollectorError, policy: RetryPolicyConfig,
  requests: number, stage: 'receiving' | 'sending' | 'processing', parkReason?: string,
): Promise<PageResultSummary> {
  const now = d.clock.now();
  const delay = retryDelayMs(policy, job.attempt, error.retryAfterSec);
  const retries = policyRetries(policy, error);
  const pastHorizon = now + delay - (held.record.firstAttemptAt || now) > policy.horizonMs;
  if (!retries || pastHorizon) return parkHeld(d, source, held, parkReason ?? (!retries ? 'permanent' : 'horizon'), error, requests);
  // The job first: a crash before the record write leaves a duplicate job, never a record without one.
  await d.queue.send(nextAttempt(job), { delayMs: delay });
  const updated = await held.commit((r) => retryLater(r, { lastError: JSON.stringify(error.toHealth()), nextAt: now + delay, requests }, now));
  if (!updated) return { outcome: 'claimed-elsewhere', error };
  d.log.log('warn', `detail request of a row failed (${stage}), retry in ${Math.round(delay / 1000)} s: ${error.message}`, {
    source: source.id, record: held.record.key, errorType: error.type, code: error.code, attempt: job.attempt + 1,
  });
  return { outcome: 'retry-scheduled', error };
}

async function parkHeld(d: Deps, source: SourceConfig, held: DetailClaim, reason: string, error: CollectorError, requests: number): Promise<PageResultSummary> {
  // The index first: a stray entry (the record not parked after all) is dropped by the replay.
  await d.details.markParked(source.id, held.record.key, d.clock.now());
  const parked = await held.commit((r) => park(r, { reason, lastError: JSON.stringify(error.toHealth()), requests }, d.clock.now()));
  if (!parked) return { outcome: 'claimed-elsewhere', error };
  await afterPark(d, source, parked, reason, error);
  return { outcome: 'parked', error };
}

async function parkUnclaimed(d: Deps, source: SourceConfig, record: DetailRecord, reason: string, error: CollectorError): Promise<boolean> {
  await d.details.markParked(source.id, record.key, d.clock.now());
  const parked = await d.details.swap(park(record, { reason, lastError: JSON.stringify(error.toHealth()) }, d.clock.now()));
  if (!parked) return false;
  await afterPark(d, source, parked, reason, error);
  return true;
}

async function afterPark(d: Deps, source: SourceConfig, r: DetailRecord, reason: string, error: CollectorError): Promise<void> {
  await d.details.addToDay(source.id, utcDay(d.clock.now()), { parked: 1 });
  d.log.log('error', `detail record parked (${reason}): ${error.message}${error.fix ? ` Fix: ${error.fix}` : ''}`, {
    source: source.id, record: r.key, errorType: error.type, code: error.code,
  });
}

async function skipUnclaimed(d: Deps, source: SourceConfig, record: DetailRecord, reason: DetailSkipReason): Promise<PageResultSummary> {
  const skipped = await d.details.swap(skip(record, { reason }, d.clock.now()));
  if (!skipped) return { outcome: 'claimed-elsewhere' };
  await d.details.addToDay(source.id, utcDay(d.clock.now()), reason === 'cap' ? { skippedCap: 1 } : { skippedRetention: 1 });
  d.telemetry.count('detailsSkipped', 1, { source: source.id, reason });
  return { outcome: 'skipped' };
}

/** A budget refusal before anything was claimed: the job comes back at its ticket; a long wait is noted in the record. */
async function deferUnclaimed(d: Deps, record: DetailRecord, job: DetailJob, waitMs: number): Promise<PageResultSummary> {
  await d.queue.send(job, { delayMs: waitMs });
  if (waitMs > LONG_WAIT_MS && record.state === 'pending') await d.details.swap(touch(record, { nextAt: d.clock.now() + waitMs }, d.clock.now())).catch(() => undefined);
  return { outcome: 'deferred' };
}
