/**
 * Time as the collector and the simulator see it. Everything that reads "now", waits, or converts
 * a delay into a queue visibility timeout goes through a Clock, so a test can run ten days of
 * traffic and many 5-minute budget windows in seconds.
 *
 * - SystemClock: real time (production).
 * - AcceleratedClock: clock time runs `factor` times faster than real time from `startAt`.
 * - ManualClock: clock time moves only when the test sets or advances it.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, in clock time. */
  now(): number;
  /** How many real milliseconds correspond to `clockMs` of clock time (for timers and visibility delays). */
  toRealMs(clockMs: number): number;
  /** Waits `clockMs` of clock time. Resolves early (without error) when the signal aborts. */
  sleep(clockMs: number, signal?: AbortSignal): Promise<void>;
  /** A short human description, for logs. */
  describe(): string;
}

function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      signal?.removeEventListener('abort', done);
      clearTimeout(timer);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
  toRealMs(clockMs: number): number {
    return clockMs;
  }
  sleep(clockMs: number, signal?: AbortSignal): Promise<void> {
    return realSleep(clockMs, signal);
  }
  describe(): string {
    return 'real time';
  }
}

export class AcceleratedClock implements Clock {
  private readonly realStart = performance.now();
  constructor(
    readonly startAt: number,
    readonly factor: number,
  ) {
    if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`AcceleratedClock factor must be a positive number, got ${factor}`);
    if (!Number.isFinite(startAt)) throw new RangeError(`AcceleratedClock startAt must be a finite epoch millisecond value, got ${startAt}`);
  }
  now(): number {
    return Math.floor(this.startAt + (performance.now() - this.realStart) * this.factor);
  }
  toRealMs(clockMs: number): number {
    return clockMs / this.factor;
  }
  sleep(clockMs: number, signal?: AbortSignal): Promise<void> {
    return realSleep(this.toRealMs(clockMs), signal);
  }
  describe(): string {
    return `accelerated x${this.factor} from ${new Date(this.startAt).toISOString()}`;
  }
}

export class ManualClock implements Clock {
  private current: number;
  private waiters: { until: number; resolve: () => void }[] = [];
  constructor(startAt: number) {
    this.current = startAt;
  }
  now(): number {
    return this.current;
  }
  toRealMs(_clockMs: number): number {
    return 0;
  }
  set(ms: number): void {
    if (ms < this.current) throw new RangeError('ManualClock cannot move backwards');
    this.current = ms;
    const due = this.waiters.filter((w) => w.until <= ms);
    this.waiters = this.waiters.filter((w) => w.until > ms);
    for (const w of due) w.resolve();
  }
  advance(ms: number): void {
    this.set(this.current + ms);
  }
  sleep(clockMs: number, signal?: AbortSignal): Promise<void> {
    if (clockMs <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      // The abort listener goes when the sleep ends either way (a long run reusing one signal
      // would otherwise pile up a listener per sleep).
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve();
      };
      const w = { until: this.current + clockMs, resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); } };
      this.waiters.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  /** The clock time of the earliest pending sleep's wake-up, or undefined when nothing sleeps. */
  nextWakeUp(): number | undefined {
    let min: number | undefined;
    for (const w of this.waiters) if (min === undefined || w.until < min) min = w.until;
    return min;
  }
  /** How many sleeps are pending (a virtual-time scheduler advances only when every actor sleeps). */
  pendingSleeps(): number {
    return this.waiters.length;
  }
  describe(): string {
    return `manual at ${new Date(this.current).toISOString()}`;
  }
}

export const systemClock: Clock = new SystemClock();
