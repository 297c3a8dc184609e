/**
 * Retry timing from a RetryPolicyConfig (per source and per destination): exponential backoff or a
 * static interval with a cap, `Retry-After` honoured up to a cap, and a horizon after which the
 * slice is parked. Waiting happens by re-enqueueing with a visibility delay, never by sleeping
 * inside a function.
 */
import type { RetryPolicyConfig } from '../config/types';
import type { CollectorError } from '../errors';

export function retryDelayMs(policy: RetryPolicyConfig, attempt: number, retryAfterSec?: number): number {
  const base = policy.mode === 'static'
    ? policy.initialMs
    : Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** Math.max(0, attempt));
  if (retryAfterSec === undefined) return base;
  return Math.min(policy.retryAfterCapMs, Math.max(retryAfterSec * 1000, 1000));
}

/**
 * Whether the policy retries this error. Errors that are never retryable (ThirdPartyConfig, a 400 on
 * a window query) stay so; an HTTP status is retried only when the policy lists it; connection
 * resets, timeouts and bad bodies (no status, or 200) are always retried; `none` retries nothing.
 */
export function policyRetries(policy: RetryPolicyConfig, error: CollectorError): boolean {
  if (policy.mode === 'none' || !error.retryable) return false;
  const status = error.statusCode;
  if (status === undefined || status < 400) return true;
  if (error.code === 'CorruptNextLink' || status === 401) return true;
  return policy.statusCodes.includes(status);
}
