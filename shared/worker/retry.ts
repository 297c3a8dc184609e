/**
 * Retry timing from a RetryPolicyConfig (per source and per destination): exponential backoff or a
 * static interval with a cap, `Retry-After` honoured up to a cap, and a horizon after which the
 * slice is parked. Waiting happens by re-enqueueing with a visibility delay, never by sleeping
 * inside a function.
 */
import type { RetryPolicyConfig } from '../config-common/types';
import type { CollectorError } from '../errors';

export function retryDelayMs(policy: RetryPolicyConfig, attempt: number, retryAfterSec?: number): number {
  const base = policy.mode === 'static'
    ? policy.initialMs
    : Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** Math.max(0, attempt));
  if (retryAfterSec === undefined) return base;
  return Math.min(policy.retryAfterCapMs, Math.max(retryAfterSec * 1000, 1000));
}

/**
 * Whether the policy retries this error. `none` retries nothing. An HTTP status the policy lists is
 * retried even when it is not retryable by default (so `statusCodes` can add codes such as 404 or
 * 409, not only narrow them), except for a ThirdPartyConfig error (a setup problem, which no retry
 * fixes). Otherwise errors that are not retryable (a 400 on a window query) stay so; a retryable
 * HTTP status is retried only when the policy lists it; connection resets, timeouts and bad bodies
 * (no status, or 200) are always retried.
 */
export function policyRetries(policy: RetryPolicyConfig, error: CollectorError): boolean {
  if (policy.mode === 'none') return false;
  const status = error.statusCode;
  const listed = status !== undefined && policy.statusCodes.includes(status);
  if (listed && error.type !== 'ThirdPartyConfig') return true;
  if (!error.retryable) return false;
  if (status === undefined || status < 400) return true;
  if (error.code === 'CorruptNextLink' || status === 401) return true;
  return listed;
}
