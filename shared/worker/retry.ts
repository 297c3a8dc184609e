/**
 * Retry timing (Cribl-style options): exponential backoff with a cap, `Retry-After` honoured up to a
 * cap, and a retry horizon after which the slice is parked. Waiting happens by re-enqueueing with a
 * visibility delay, never by sleeping inside a function.
 */
export interface RetryPolicy {
  initialMs: number;
  multiplier: number;
  maxMs: number;
  /** Past this much time since the first attempt, the slice is parked (default 90 minutes). */
  horizonMs: number;
  /** Longest Retry-After honoured. */
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  initialMs: 5_000,
  multiplier: 2,
  maxMs: 10 * 60_000,
  horizonMs: 90 * 60_000,
  retryAfterCapMs: 15 * 60_000,
};

export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfterSec?: number): number {
  const backoff = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** Math.max(0, attempt));
  if (retryAfterSec === undefined) return backoff;
  return Math.min(policy.retryAfterCapMs, Math.max(retryAfterSec * 1000, policy.initialMs));
}
