/**
 * "Ours" in the benchmark: the collector's throughput model with the real pieces that decide it:
 * the shared TenantBudget on Azurite (compare-and-swap, priorities, pause), the worker count from
 * deriveConcurrency, live slices from liveSliceMs, backfill slices from planBackfillSlices with
 * parallelSlices at the observed latency, the real Graph client (got, validation) and the real
 * per-page processing (bench/process-page.ts). Worker slots pull page jobs from an in-memory
 * queue with visibility delays; a job refused by the budget is re-queued with `waitMs`, as the
 * queue worker will do.
 *
 * Not included: the ledger and queue round trips of the Functions host (a few Table/Queue calls
 * per page, counted in `pageOverheadMs`). When the page worker calls the budget itself, the
 * benchmark can drive the local host instead (see docs/throughput.md).
 */
import type { TokenCredential } from '@azure/core-auth';
import { GraphMessageTraceClient } from '../shared/api/graph-client';
import { CollectorError } from '../shared/errors';
import type { MessageTraceRow } from '../shared/model/row';
import { TenantBudget, deriveConcurrency, liveSliceMs, observedDensity, parallelSlices, planBackfillSlices, type BudgetPriority, type ObservedRange } from '../shared/budget';
import type { Clock } from '../shared/time/clock';
import { processPage } from './process-page';
import type { Recorder } from './recorder';
import { SimulatorToken } from './sim-client';

export interface TenantSetup {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Backfill range for this tenant (catch-up or a requested backfill), if any. */
  backfill?: { startMs: number; endMs: number };
}

export interface OursOptions {
  clock: Clock;
  baseUrl: string;
  budget: TenantBudget;
  tenants: TenantSetup[];
  recorder: Recorder;
  pageSize: number;
  pollIntervalMs: number;
  collectionDelayMs: number;
  /** Expected API latency per page (the sizing input before anything is observed). */
  expectedLatencyMs: number;
  /** Worker time per page outside the API call (the sizing input). */
  pageOverheadMs: number;
}

interface Job {
  tenant: TenantState;
  kind: BudgetPriority;
  startMs: number;
  endMs: number;
  nextLink?: string;
  previousKeys?: Set<string>;
  notBefore: number;
  rows: number;
}

interface TenantState {
  setup: TenantSetup;
  client: GraphMessageTraceClient;
  scheduledUntil: number;
  /** Live watermark: everything before it is collected (contiguous done live slices). */
  completedUntil: number;
  doneLive: Map<number, number>; // startMs -> endMs of done live slices past the watermark
  observed: ObservedRange[];
  backfillPlanned: boolean;
  backfillSlicesLeft: number;
  backfillDoneAt?: number;
}

export class OursCollector {
  slots: number;
  private readonly workers: Promise<void>[] = [];
  private readonly queue: Job[] = [];
  private readonly tenants: TenantState[];
  private stopped = false;
  private readonly latencies: number[] = [];
  private readonly abort = new AbortController();
  private readonly rowCost = { ms: 0, rows: 0 };
  private backfillChains = 0;

  constructor(private readonly o: OursOptions) {
    const now = o.clock.now();
    const liveStart = Math.floor((now - o.collectionDelayMs) / 1000) * 1000;
    this.tenants = o.tenants.map((setup) => {
      const token = new SimulatorToken(o.baseUrl, setup.tenantId, setup.clientId, setup.clientSecret);
      const credential: TokenCredential = { getToken: async () => ({ token: await token.get(), expiresOnTimestamp: Date.now() + 30_000 }) };
      return {
        setup,
        client: new GraphMessageTraceClient({ graphBaseUrl: o.baseUrl, apiVersion: 'v1.0', scope: 'https://graph.microsoft.com/.default', credential }),
        scheduledUntil: liveStart,
        completedUntil: liveStart,
        doneLive: new Map(),
        observed: [],
        backfillPlanned: !setup.backfill,
        backfillSlicesLeft: 0,
      };
    });
    // Worker slots for the deployment, derived from the budget and the expected latency.
    this.slots = deriveConcurrency({
      tenants: o.tenants.length,
      allowedPerWindow: o.budget.options.allowed,
      windowMs: o.budget.options.windowMs,
      pageLatencyMs: o.expectedLatencyMs,
      pageOverheadMs: o.pageOverheadMs,
    }).totalSlots;
  }

  lagsMs(): number[] {
    const now = this.o.clock.now();
    return this.tenants.map((t) => now - t.completedUntil);
  }

  backfillRunning(): boolean {
    return this.tenants.some((t) => !t.backfillPlanned || t.backfillSlicesLeft > 0);
  }

  backfillFinishedAt(): number | undefined {
    if (this.backfillRunning()) return undefined;
    const ends = this.tenants.map((t) => t.backfillDoneAt ?? 0);
    return Math.max(0, ...ends);
  }

  start(): Promise<void> {
    const planner = this.plannerLoop();
    for (let i = 0; i < this.slots; i++) this.workers.push(this.workerLoop());
    return planner.then(() => Promise.all(this.workers)).then(() => undefined);
  }

  /** Scale out like the queue function does when the queue holds more parallel chains than slots. */
  private ensureSlots(wanted: number): void {
    while (this.slots < wanted) {
      this.slots++;
      this.workers.push(this.workerLoop());
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async plannerLoop(): Promise<void> {
    while (!this.stopped) {
      const now = this.o.clock.now();
      for (const t of this.tenants) {
        this.planLive(t, now);
        if (!t.backfillPlanned) this.planBackfill(t);
      }
      await this.o.clock.sleep(this.o.pollIntervalMs / 4, this.abort.signal);
    }
  }

  private planLive(t: TenantState, now: number): void {
    const end = Math.floor((now - this.o.collectionDelayMs) / 1000) * 1000;
    const len = liveSliceMs({ density: observedDensity(t.observed.slice(-30)), pollIntervalMs: this.o.pollIntervalMs });
    if (end - t.scheduledUntil < len) return;
    this.queue.push({ tenant: t, kind: 'live', startMs: t.scheduledUntil, endMs: end, notBefore: now, rows: 0 });
    t.scheduledUntil = end;
  }

  private planBackfill(t: TenantState): void {
    const density = observedDensity(t.observed);
    if (density === undefined || !t.setup.backfill) return; // wait for the first live slice to measure density
    // The observed time a slot holds a page (API latency plus processing), not the guess.
    const busy = this.latencies.length ? this.latencies.reduce((a, b) => a + b, 0) / this.latencies.length : this.o.expectedLatencyMs + this.o.pageOverheadMs;
    const pages = (density * (t.setup.backfill.endMs - t.setup.backfill.startMs)) / this.o.pageSize;
    // Pages of a 5000-row backfill page cost more to process than a live page: add the processing
    // time of the rows we expect per page at the observed per-row cost.
    const perRow = this.rowCost.rows ? this.rowCost.ms / this.rowCost.rows : 0;
    const parallel = parallelSlices({
      observedLatencyMs: busy + perRow * this.o.pageSize, pageOverheadMs: 0,
      allowedPerWindow: this.o.budget.options.allowed, windowMs: this.o.budget.options.windowMs, remainingPages: pages,
    });
    const slices = planBackfillSlices({ ...t.setup.backfill, density, pageSize: this.o.pageSize, parallel });
    const now = this.o.clock.now();
    for (const s of slices) this.queue.push({ tenant: t, kind: 'backfill', startMs: s.startMs, endMs: s.endMs, notBefore: now, rows: 0 });
    this.backfillChains += slices.length;
    this.ensureSlots(this.backfillChains + 1);
    t.backfillSlicesLeft = slices.length;
    t.backfillPlanned = true;
  }

  private take(now: number): Job | undefined {
    const i = this.queue.findIndex((j) => j.notBefore <= now);
    return i < 0 ? undefined : this.queue.splice(i, 1)[0];
  }

  private async workerLoop(): Promise<void> {
    while (!this.stopped) {
      const now = this.o.clock.now();
      const job = this.take(now);
      if (!job) {
        const next = Math.min(...this.queue.map((j) => j.notBefore), now + 2000);
        await this.o.clock.sleep(Math.max(50, next - now), this.abort.signal);
        continue;
      }
      try {
        await this.runJob(job);
      } catch (err) {
        if (this.stopped) return;
        this.o.recorder.errors++;
        job.notBefore = this.o.clock.now() + 5000;
        this.queue.push(job);
        if (this.o.recorder.errors < 5) console.error(`ours: page failed: ${(err as Error).message}`);
      }
    }
  }

  private async runJob(job: Job): Promise<void> {
    const { clock, budget, recorder } = this.o;
    const tenantId = job.tenant.setup.tenantId;
    const decision = await budget.acquire(tenantId, job.kind);
    if (!decision.granted) {
      recorder.refusals++;
      job.notBefore = clock.now() + decision.waitMs;
      this.queue.push(job);
      return;
    }
    const started = clock.now();
    let rows: MessageTraceRow[];
    let nextLink: string | undefined;
    try {
      const page = await job.tenant.client.fetchPage(job.nextLink
        ? { kind: 'continuation', url: job.nextLink }
        : { kind: 'window', startMs: job.startMs, endMs: job.endMs, top: this.o.pageSize }, { signal: this.abort.signal });
      recorder.request(200);
      rows = page.rows;
      nextLink = page.nextLink;
    } catch (err) {
      if (err instanceof CollectorError && err.statusCode === 429) {
        recorder.request(429);
        const until = clock.now() + (err.retryAfterSec ?? 60) * 1000;
        await budget.pause(tenantId, until, `429 Retry-After ${err.retryAfterSec ?? '?'}`);
        job.notBefore = until;
        this.queue.push(job);
        return;
      }
      if (err instanceof CollectorError && err.statusCode !== undefined) recorder.request(err.statusCode);
      throw err;
    }
    const fetchedAt = clock.now();
    this.latencies.push(fetchedAt - started);
    if (this.latencies.length > 200) this.latencies.shift();
    const processed = await processPage({
      tenantId, sourceId: tenantId, rows, startMs: job.startMs, endMs: job.endMs, collectedAt: new Date(clock.now()).toISOString(),
      ...(job.previousKeys ? { previousKeys: job.previousKeys } : {}),
    });
    this.rowCost.ms += clock.now() - fetchedAt;
    this.rowCost.rows += rows.length;
    recorder.rows += processed.kept;
    job.rows += processed.kept;
    if (job.kind !== 'live') {
      recorder.backfillRows += processed.kept;
      recorder.backfillRequests++;
    }
    if (nextLink) {
      // The continuation goes to the back of the queue, as a new queue message would.
      this.queue.push({ ...job, nextLink, previousKeys: processed.keys, notBefore: clock.now() });
      return;
    }
    this.sliceDone(job);
  }

  private sliceDone(job: Job): void {
    const t = job.tenant;
    if (job.kind === 'live') {
      t.observed.push({ startMs: job.startMs, endMs: job.endMs, rows: job.rows });
      if (t.observed.length > 500) t.observed.shift();
      t.doneLive.set(job.startMs, job.endMs);
      while (t.doneLive.has(t.completedUntil)) {
        const end = t.doneLive.get(t.completedUntil)!;
        t.doneLive.delete(t.completedUntil);
        t.completedUntil = end;
      }
    } else {
      t.backfillSlicesLeft--;
      if (t.backfillSlicesLeft === 0) t.backfillDoneAt = this.o.clock.now();
    }
  }
}
