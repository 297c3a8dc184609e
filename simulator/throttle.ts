/**
 * The per-tenant request budget (reference B.7: 100 requests per rolling 5 minutes, shared by
 * list and detail calls; the simulator also charges RWS calls to it). Rolling window in clock time.
 */
import type { Clock } from '../shared/time/clock';

export interface ThrottleOptions {
  limit: number;
  windowMs: number;
  /** Whether a rejected request also takes a slot (a client that keeps hammering stays throttled). Default false. */
  countRejected?: boolean;
}

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSec: number };

export class RollingThrottle {
  private readonly log = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly options: ThrottleOptions,
  ) {}

  take(tenantId: string): ThrottleDecision {
    const now = this.clock.now();
    const key = tenantId.toLowerCase();
    const cutoff = now - this.options.windowMs;
    // Requests stamped after `now` can only come from a clock that was set back (tests that start a
    // new harness at an earlier instant against the same simulator): they are not in this window.
    const times = (this.log.get(key) ?? []).filter((t) => t > cutoff && t <= now);
    this.log.set(key, times);
    if (times.length < this.options.limit) {
      times.push(now);
      return { allowed: true };
    }
    if (this.options.countRejected) times.push(now);
    // A slot frees when enough of the oldest requests have left the window.
    const freeingAt = times[times.length - this.options.limit]! + this.options.windowMs;
    const retryAfterSec = Math.max(1, Math.ceil((freeingAt - now) / 1000));
    return { allowed: false, retryAfterSec };
  }
}
