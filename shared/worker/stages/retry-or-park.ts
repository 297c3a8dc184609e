/**
 * What a failed attempt leaves behind: a retry later (the claim released, a delayed job), a healed
 * continuation, or a parked slice (past the retry horizon, permanent, a stopped source).
 */
import type { RetryPolicyConfig } from '../../config-common/types';
import type { SourceConfig } from '../../components';
import { CollectorError, asCollectorError } from '../../errors';
import type { SliceRow } from '../../state/ledger';
import { countLinkFailure, heal, park, retryLater } from '../../state/slice-machine';
import { nextAttempt, withoutCreated, type PageJob } from '../../queue/jobs';
import { EVENTS, errorTags } from '../../telemetry';
import { setSourceState } from '../../health';
import { describeSecretRef } from '../../auth/secrets';
import { policyRetries, retryDelayMs } from '../retry';
import type { StoredPage } from '../page-store';
import type { PageResultSummary, WorkerDeps } from '../deps';
import type { HeldClaim } from './claim';
import { requestFor } from './fetch';

/**
 * Anything thrown while holding the claim (storage, an unreadable page copy, a guard) is retried
 * with backoff and parked past the horizon, or parked at once when it cannot pass: thrown back to
 * the host, its redelivery would meet this job's own live claim, be deferred as a new message and
 * never count towards the poison queue (a slice stuck out of sight).
 */
export async function failWhileClaimed(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, err: unknown): Promise<PageResultSummary> {
  const error = asCollectorError(err);
  if (error.code === 'ClaimLost') return { outcome: 'claimed-elsewhere', error };
  const held = await claim.finish();
  if (!held) return { outcome: 'claimed-elsewhere', error };
  deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'processing', error }));
  return scheduleRetryOrPark(deps, source, held, job, error, source.retry, 0, 'processing');
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

/** The API request failed: stop the source (configuration), heal a corrupt continuation, or retry/park. */
export async function handleFetchFailure(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, error: CollectorError, requests: number, carried: StoredPage | undefined): Promise<PageResultSummary> {
  const { clock, log } = deps;
  const fields = { source: source.id, slice: slice.id, page: job.page, errorType: error.type, code: error.code };
  deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'receiving', error }));

  if (error.type === 'ThirdPartyConfig') {
    error = withSecretReference(error, source);
    await setSourceState(deps, source.id, 'Error', { error, configHash: deps.configHashOf(source) });
    const parked = await parkSlice(deps, source, slice, 'config', error, requests);
    return { outcome: parked ? 'parked' : 'claimed-elsewhere', error };
  }
  if (error.statusCode === 429 && error.retryAfterSec !== undefined && deps.budget) {
    await deps.budget.pause(source.tenantId, clock.now() + error.retryAfterSec * 1000, 'the API answered 429 with Retry-After');
  }

  // Self-healing pagination: after N 400s on one continuation, re-query the rest of the slice.
  if (error.code === 'CorruptNextLink' && requestFor(slice, source, carried).kind === 'continuation') {
    slice = countLinkFailure(slice);
    if (slice.linkFailures >= source.nextLinkFailureLimit) {
      const failuresOnLink = slice.linkFailures;
      const healed = await deps.ledger.swapSlice(heal(slice, { requests, lastError: JSON.stringify(error.toHealth()) }, clock.now()));
      if (!healed) return { outcome: 'claimed-elsewhere', error };
      log.log('warn', `nextLink failed ${failuresOnLink} times; re-querying the rest of the slice up to ${new Date(healed.resumeUntil).toISOString()}`, fields);
      await deps.queue.send(nextAttempt(withoutCreated(job)), { delayMs: source.retry.initialMs });
      return { outcome: 'retry-scheduled', error };
    }
  }
  return scheduleRetryOrPark(deps, source, slice, job, error, source.retry, requests, 'receiving');
}

async function scheduleRetryOrPark(
  deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, error: CollectorError,
  policy: RetryPolicyConfig, requests: number, stage: 'receiving' | 'processing', parkReasonOverride?: string,
): Promise<PageResultSummary> {
  const now = deps.clock.now();
  const delay = retryDelayMs(policy, job.attempt, error.retryAfterSec);
  const retries = policyRetries(policy, error);
  const pastHorizon = now + delay - (slice.firstAttemptAt || now) > policy.horizonMs;
  if (!retries || pastHorizon) {
    const reason = parkReasonOverride ?? (!retries ? 'permanent' : 'horizon');
    const parked = await parkSlice(deps, source, slice, reason, error, requests);
    return { outcome: parked ? 'parked' : 'claimed-elsewhere', error };
  }
  const updated = await deps.ledger.swapSlice(retryLater(slice, { requests, lastError: JSON.stringify(error.toHealth()) }, now));
  if (!updated) return { outcome: 'claimed-elsewhere', error };
  await deps.ledger.mergeHealth(source.id, { lastError: JSON.stringify(error.toHealth()), lastErrorAt: now });
  await deps.queue.send(nextAttempt(withoutCreated(job)), { delayMs: delay });
  deps.log.log('warn', `page failed (${stage}), retry in ${Math.round(delay / 1000)} s: ${error.message}`, {
    source: source.id, slice: slice.id, page: job.page, errorType: error.type, code: error.code, attempt: job.attempt + 1,
  });
  return { outcome: 'retry-scheduled', error };
}

/** Parks a slice: it holds the watermark back, shows in status, and waits for a replay. */
export async function parkSlice(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, reason: string, error: CollectorError, requests: number, opts: { recordInHealth?: boolean } = {}): Promise<boolean> {
  const now = deps.clock.now();
  const updated = await deps.ledger.swapSlice(park(slice, { reason, requests, lastError: JSON.stringify(error.toHealth()) }, now));
  if (!updated) return false;
  if (opts.recordInHealth !== false) await deps.ledger.mergeHealth(source.id, { lastError: JSON.stringify(error.toHealth()), lastErrorAt: now });
  deps.telemetry.event(EVENTS.sliceParked, { source: source.id, slice: slice.id, reason, errorType: error.type, code: error.code, message: error.message });
  deps.log.log('error', `slice parked (${reason}): ${error.message}${error.fix ? ` Fix: ${error.fix}` : ''}`, {
    source: source.id, slice: slice.id, page: slice.page, errorType: error.type, code: error.code,
  });
  return true;
}
