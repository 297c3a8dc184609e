/**
 * What a benchmark run records: every request sent (clock time, status), rows collected, and
 * samples of lag and budget use over time. Shared by our collector and the baseline.
 */
import type { Clock } from '../shared/time/clock';

export interface Sample {
  /** Clock minutes since the run started. */
  tMin: number;
  rows: number;
  /** Requests in the last rolling window, all tenants, over the allowed requests of all tenants. */
  budgetUse: number;
  /** The largest live lag of any tenant, minutes (now - completed watermark). */
  lagMin: number;
}

export class Recorder {
  readonly requestTimes: number[] = [];
  readonly samples: Sample[] = [];
  readonly lagSamples: { at: number; lagMs: number; duringBackfill: boolean }[] = [];
  rows = 0;
  backfillRows = 0;
  backfillRequests = 0;
  requests = 0;
  throttled = 0;
  refusals = 0;
  errors = 0;
  peakRss = 0;
  private cpu0 = process.cpuUsage();
  constructor(readonly clock: Clock, readonly startedAt: number) {}

  request(status: number): void {
    this.requests++;
    this.requestTimes.push(this.clock.now());
    if (status === 429) this.throttled++;
  }

  /** Requests in (now - windowMs, now]. */
  inWindow(windowMs: number): number {
    const cutoff = this.clock.now() - windowMs;
    let n = 0;
    for (let i = this.requestTimes.length - 1; i >= 0 && this.requestTimes[i]! > cutoff; i--) n++;
    return n;
  }

  sample(lagsMs: number[], allowedTotal: number, windowMs: number, duringBackfill: boolean): void {
    const now = this.clock.now();
    const lag = lagsMs.length ? Math.max(...lagsMs) : 0;
    for (const l of lagsMs) this.lagSamples.push({ at: now, lagMs: l, duringBackfill });
    this.samples.push({ tMin: (now - this.startedAt) / 60_000, rows: this.rows, budgetUse: this.inWindow(windowMs) / allowedTotal, lagMin: lag / 60_000 });
    this.peakRss = Math.max(this.peakRss, process.memoryUsage().rss);
  }

  resetCpu(): void {
    this.cpu0 = process.cpuUsage();
  }

  cpuMs(): number {
    const c = process.cpuUsage(this.cpu0);
    return (c.user + c.system) / 1000;
  }
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
