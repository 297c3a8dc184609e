/**
 * Batches the first page jobs of small live slices that one timer run plans for several sources
 * into page batch messages (shared/queue/jobs.ts PageBatchJob, issue 19): one message, one
 * execution, one receive and one delete for up to `max` quiet tenants' slices.
 *
 * The planner's crash safety is unchanged: `sendAll` resolves only once the message holding the
 * jobs is in the queue, so the planner clears its outbox after the send, as before (a planner that
 * dies while it waits leaves the outbox, and a later run relays it as single jobs).
 *
 * When to send: the planning of several sources runs at once (forEachSource, MTC_PLAN_CONCURRENCY),
 * each inside `run`. A batch goes out when it is full, or when every source planning at that
 * moment waits in `sendAll` or is done (nothing more can join soon), or after `lingerMs` of real
 * time whatever the others do, so a source whose planning is slow delays the others' jobs by at
 * most that.
 */
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { currentTraceparent } from '../telemetry';
import { pageBatchJob, type JobQueue, type PageJob } from './jobs';

export const DEFAULT_BATCH_LINGER_MS = 100;

interface Waiting {
  job: PageJob;
  resolve(): void;
  reject(err: unknown): void;
}

export class PageJobBatcher {
  private entries: Waiting[] = [];
  private active = 0;
  private waiting = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Messages sent, and the jobs they held (for the benchmark and tests). */
  readonly sent = { messages: 0, jobs: 0 };

  constructor(private readonly queue: JobQueue, readonly max: number, private readonly lingerMs = DEFAULT_BATCH_LINGER_MS) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`PageJobBatcher: max must be a whole number of at least 1, got ${String(max)}`);
  }

  /** Runs one source's planning as one of the planners that may still add jobs. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.maybeFlush();
    }
  }

  /**
   * Sends `jobs` (first page jobs of small slices) in batch messages; resolves once each is in the
   * queue, rejects if the message holding one could not be sent. Each job keeps the trace of the
   * span it was planned in.
   */
  async sendAll(jobs: PageJob[]): Promise<void> {
    if (!jobs.length) return;
    if (this.max === 1) {
      await Promise.all(jobs.map((j) => this.queue.send(j)));
      return;
    }
    const traceparent = currentTraceparent();
    const done = jobs.map((job) => new Promise<void>((resolve, reject) => {
      this.entries.push({ job: traceparent ? { ...job, traceparent } : job, resolve, reject });
    }));
    this.waiting++;
    try {
      this.maybeFlush();
      if (this.entries.length && !this.timer) this.timer = setTimeout(() => { this.timer = undefined; this.flush(true); }, this.lingerMs);
      await Promise.all(done);
    } finally {
      this.waiting--;
    }
  }

  private maybeFlush(): void {
    if (this.entries.length >= this.max) this.flush(false);
    if (this.entries.length && this.waiting >= this.active) this.flush(true);
  }

  /** Sends full batches, and with `all` the rest too. */
  private flush(all: boolean): void {
    while (this.entries.length >= this.max || (all && this.entries.length)) {
      const batch = this.entries.splice(0, this.max);
      this.sent.messages++;
      this.sent.jobs += batch.length;
      // A batch of one is a plain page job: the same message as without batching.
      const message = batch.length === 1 ? batch[0]!.job : pageBatchJob(batch.map((w) => w.job));
      // Sent outside any span: the flush runs in whichever source's planning came last, and each
      // job already carries the trace of its own (JobQueue.send would put that one's on all).
      context.with(ROOT_CONTEXT, () => this.queue.send(message)).then(() => { for (const w of batch) w.resolve(); }, (err: unknown) => { for (const w of batch) w.reject(err); });
    }
    if (!this.entries.length && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
