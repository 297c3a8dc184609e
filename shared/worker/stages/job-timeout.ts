/**
 * The job timeout (source `jobTimeout`, Cribl's "job timeout"): the longest one page job may run,
 * its API request and every destination send together. When it passes, the job's requests are
 * aborted with a JobTimeout error, a transient one: the page is retried on the source's retry
 * policy (and parked past its horizon), its claim released, its copy kept, so the next attempt
 * resumes where the destinations stopped. It stays below host.json's functionTimeout (10 minutes),
 * so the worker, not the host, ends a job that hangs, and says why.
 *
 * The timer runs in real time converted from clock time (like the claim heartbeat): a clock that
 * maps to no real time (the tests' manual clock, the benchmark's virtual one) arms no timer.
 */
import type { SourceConfig } from '../../components';
import { CollectorError } from '../../errors';
import type { Clock } from '../../time/clock';

export const DEFAULT_JOB_TIMEOUT_MS = 9 * 60_000;

export interface JobTimer {
  /** Aborted (reason: the JobTimeout error) when the job's time is up. */
  readonly signal: AbortSignal;
  /** The JobTimeout error when the time is up, else undefined. */
  expired(): CollectorError | undefined;
  stop(): void;
}

export function startJobTimer(clock: Clock, source: Pick<SourceConfig, 'id' | 'jobTimeoutMs'>, what: string): JobTimer {
  const limitMs = source.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
  const controller = new AbortController();
  const realMs = clock.toRealMs(limitMs);
  const timer = realMs > 0
    ? setTimeout(() => controller.abort(new CollectorError('ThirdPartyGeneric',
      `${what} of source ${source.id} did not finish within its jobTimeout of ${formatLimit(limitMs)}; its requests were aborted and it will be retried (a destination that did not answer gets the page in its backlog)`,
      { code: 'JobTimeout', retryable: true, fix: 'a destination or the API answers too slowly: check their health (GET /api/status/<source>), or raise the source\'s "jobTimeout" (keep it below host.json functionTimeout)' })), realMs)
    : undefined;
  timer?.unref?.();
  return {
    signal: controller.signal,
    expired: () => (controller.signal.aborted ? controller.signal.reason as CollectorError : undefined),
    stop: () => { if (timer) clearTimeout(timer); },
  };
}

function formatLimit(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}
