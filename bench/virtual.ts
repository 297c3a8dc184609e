/**
 * The virtual-time driver: the REAL planner (`planSource`), page worker (`processPageJob`),
 * TenantBudget, ledger and queue on Azurite, the simulator in-process on a ManualClock with its
 * latency model, and a counting HTTP receiver as the destination.
 *
 * Scheduler rule: the clock advances only when nothing can run: no visible queue message for an
 * idle slot, and every actor (busy worker slot, planner tick) waits on a clock sleep (the
 * simulator's latency). Then it jumps to the earliest of: a pending sleep's wake-up, a delayed
 * job's due time, the next planner tick (every minute of clock time). Simulated minutes are
 * therefore independent of this machine's CPU; processing costs no clock time.
 *
 * Azurite's visibility timeouts run in real time, so jobs sent with a delay (budget waits, retry
 * backoff, `notBefore`) are held by `VirtualDelayQueue` in memory and sent to the Azurite queue
 * when the clock reaches their due time: the same effect as the visibility delay in Azure.
 */
import { createRuntime } from '../shared/runtime';
import http from 'node:http';
import zlib from 'node:zlib';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { startSimulator, type Simulator } from '../simulator';
import { MemoryLogger } from '../shared/log';
import { MeteredTelemetry, startStorageMeter, type StorageCounts, type StorageMeter, type TelemetryCounts } from './meter';
import { runDuePreflights } from '../shared/planning/preflight-step';
import { Ledger } from '../shared/state/ledger';
import { storageFromEnvironment } from '../shared/state/storage';
import { METRIC_EXPORT_INTERVAL_MS } from '../shared/telemetry-setup';
import { JobQueue, decodeJob, isPageBatch, type QueueJob } from '../shared/queue/jobs';
import { sweepDetails } from '../shared/details/sweep';
import { DetailStore } from '../shared/details/store';
import { ManualClock, type Clock } from '../shared/time/clock';
import { planSources, planSourceTick } from '../shared/planning/plan-tick';
import type { GaugeDeps } from '../shared/telemetry';
import { type WorkerDeps } from '../shared/worker/page-worker';
import { outcomesOf, processJob, processPageBatch } from '../shared/worker/jobs';
import { processPageJob } from '../shared/worker/page-worker';
import type { PageResultSummary } from '../shared/worker/deps';
import { deriveConcurrency } from '../shared/budget';
import { parseConfig } from '../shared/components';
import type { CollectorConfig } from '../shared/components';
import { startBackfill } from '../shared/backfill';
import { runProgress } from '../shared/backfill-runs';
import { runStore } from '../shared/state/runs';
import { BaselineCollector } from './baseline';
import { Recorder, type Sample } from './recorder';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const WINDOW_MS = 300_000;
export const LIMIT = 100;
export const PAGE_SIZE = 5000;

const realWait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Holds delayed jobs in memory until the ManualClock reaches their due time (see the header). */
export class VirtualDelayQueue extends JobQueue {
  private readonly delayed: { dueAt: number; job: QueueJob }[] = [];
  constructor(client: ConstructorParameters<typeof JobQueue>[0], private readonly vclock: Clock) {
    super(client, vclock);
  }
  override async send(job: QueueJob, opts: { delayMs?: number } = {}): Promise<void> {
    const delayMs = Math.max(0, opts.delayMs ?? 0);
    if (delayMs <= 0 || isPageBatch(job)) return super.send(job, opts);
    const dueAt = Math.ceil(this.vclock.now() + delayMs);
    this.delayed.push({ dueAt, job: { ...job, notBefore: dueAt } });
  }
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const d of this.delayed) if (min === undefined || d.dueAt < min) min = d.dueAt;
    return min;
  }
  async releaseDue(): Promise<number> {
    const now = this.vclock.now();
    const due = this.delayed.filter((d) => d.dueAt <= now);
    if (!due.length) return 0;
    for (const d of due) this.delayed.splice(this.delayed.indexOf(d), 1);
    await Promise.all(due.map((d) => super.send(d.job)));
    return due.length;
  }
  get heldCount(): number {
    return this.delayed.length;
  }
}

/**
 * A destination that counts rows (NDJSON lines) and bytes and keeps nothing but a compact set of
 * the events' ids: an id seen twice is a repeated event (ids are deterministic per row version,
 * shared/model/row.ts eventIdOf, so a status change is a new id and never counts as a repeat).
 */
export interface CountingReceiver {
  url: string; rows: number; bytes: number; requests: number;
  /** Events whose id had arrived before, of `checked` events checked (the first REPEAT_CHECK_MAX with an id). */
  repeated: number; checked: number;
  close(): Promise<void>;
}

/** Events the receiver checks for repeats (64 MB of slots); later ones are counted, not checked. */
export const REPEAT_CHECK_MAX = 4_000_000;

/**
 * A set of 52-bit prefixes of hex event ids in open addressing (a Float64Array of 2 x
 * REPEAT_CHECK_MAX slots): 16 bytes an event, where a Set of strings takes about five times that.
 * Two distinct ids share a prefix with probability about n^2 / 2^53 (0.2% at 4M events).
 */
class IdSet {
  private readonly slots = new Float64Array(2 ** Math.ceil(Math.log2(2 * REPEAT_CHECK_MAX)));
  size = 0;
  /** True when the id was there already; undefined when the set is full (the id is not checked). */
  add(hexId: string): boolean | undefined {
    if (this.size >= REPEAT_CHECK_MAX) return undefined;
    const v = parseInt(hexId.slice(0, 13), 16) + 1;
    const mask = this.slots.length - 1;
    for (let i = (v * 2654435761) % this.slots.length & mask; ; i = (i + 1) & mask) {
      const at = this.slots[i]!;
      if (at === v) return true;
      if (at === 0) {
        this.slots[i] = v;
        this.size++;
        return false;
      }
    }
  }
}

const EVENT_ID = /"eventId":"([0-9a-f]{13,})"/;

export async function startCountingReceiver(): Promise<CountingReceiver> {
  const state = { rows: 0, bytes: 0, requests: 0, repeated: 0, checked: 0 };
  const ids = new IdSet();
  const server = http.createServer((req, res) => {
    let lines = 0;
    let last = 10;
    const parts: Buffer[] = [];
    // Bytes as they travel (gzipped when the destination compresses: the egress); rows from the text.
    const body = req.headers['content-encoding'] === 'gzip' ? req.pipe(zlib.createGunzip()) : req;
    if (body !== req) req.on('data', (chunk: Buffer) => { state.bytes += chunk.length; });
    body.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      if (body === req) state.bytes += chunk.length;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      last = chunk[chunk.length - 1] ?? last;
    });
    body.on('end', () => {
      for (const line of Buffer.concat(parts).toString('utf8').split('\n')) {
        const id = EVENT_ID.exec(line)?.[1];
        const seen = id === undefined ? undefined : ids.add(id);
        if (seen === undefined) continue;
        state.checked++;
        if (seen) state.repeated++;
      }
      state.rows += lines + (last === 10 ? 0 : 1);
      state.requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/ingest`,
    get rows() { return state.rows; },
    get bytes() { return state.bytes; },
    get requests() { return state.requests; },
    get repeated() { return state.repeated; },
    get checked() { return state.checked; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface VirtualScenario {
  tenants: number;
  rowsPerDay: number;
  /** Simulated run length when there is no backfill (a, c). */
  durationMs: number;
  /** b: backfill of this many ms before the live start, started with startBackfill once live density is known. */
  backfillMs: number;
  /** After the backfill is done, keep going this long. */
  afterBackfillMs: number;
  latencyMs: number;
  /** MTC_PAGE_BATCH_MAX of the collector under test (default the setting's, 8). */
  pageBatchMax?: number;
  /** The destination compresses its requests (http `gzip: true`): the egress is the compressed bytes. */
  gzip?: boolean;
  /** MTC_PLAN_CONCURRENCY of the collector under test (default the setting's, 32). */
  planConcurrency?: number;
  /** MTC_TRACE_SAMPLING of the collector under test (default the setting's, 0.25): the share of spans and dependencies the cost counts. */
  traceSampling?: number;
  collectionDelayMs: number;
  pollIntervalMs: number;
  settle: boolean;
  /** With settle: the re-read ages (default the source's: +1h, +6h, +24h). */
  rereads?: string[];
  seed: number;
  /** Rows per day of each tenant (scenario d's mix); default rowsPerDay for every tenant. */
  mix?: number[];
  /** The simulator's final-status weights (scenario e: the share of rows that qualify for details). */
  statusWeights?: { delivered: number; failed: number; quarantined: number; filteredAsSpam: number; expanded: number; recalled: number };
  /** Detail enrichment (scenario e): on for the tenants listed (by index), with this daily request cap. */
  details?: { tenants: number[]; dailyRequestCap: number };
}

/** What detail enrichment did in a run (scenario e), per tenant with details on. */
export interface DetailRunFigures {
  source: string;
  qualifying: number;
  requests: number;
  done: number;
  skippedCap: number;
  skippedRetention: number;
  parked: number;
  pending: number;
  /** Seconds from a row's collection to its detail events acknowledged, of every done row. */
  delaysSec: number[];
  /** The budget's count of live, backfill and rescan requests that waited because of a detail grant. */
  waitedForDetail: number;
  /** Backlog (pending detail records) sampled every 15 simulated minutes. */
  backlog: { tMin: number; pending: number }[];
}

/** One planner timer run: table entities the planning read per source, queries by a non-key property, real work time. */
export interface PlannerTick {
  tMin: number; entitiesPerSource: number; nonKeyQueries: number; realMs: number;
  /** CPU of this process during the step (the planning, and whatever else ran in the process meanwhile: an upper bound of the planning's). */
  cpuMs?: number;
  /** Storage requests the planning step sent. */
  requests?: number;
  /** Those requests by operation and resource (`table read-entity cursors`). */
  byResource?: Record<string, number>;
}

export interface TickSample extends Sample {
  /** Requests of all tenants in the last 5 minutes (simulator's count). */
  requestsInWindow: number;
  lagsMin: number[];
  duringBackfill: boolean;
}

export interface VirtualRun {
  startedAt: number;
  endedAt: number;
  slots: number;
  samples: TickSample[];
  rowsDelivered: number;
  /** Events delivered again (the same id), of `checkedEvents` checked (CountingReceiver). */
  repeatedEvents: number;
  checkedEvents: number;
  bytesDelivered: number;
  requests: number;
  throttled429: number;
  byKind: Record<string, { slices: number; rows: number; requests: number }>;
  /** Rescan slices by re-read level (R0 = first age): slices, rows, requests. */
  rereads: { level: number; slices: number; rows: number; requests: number }[];
  outcomes: Record<string, number>;
  errors: number;
  backfill?: { startedAt: number; doneAt?: number; startMs: number; endMs: number; rows: number; requests: number; slices: number };
  cpuMs: number;
  peakRssMB: number;
  realSeconds: number;
  allowedPerWindow: number;
  /** The longest planner tick in clock time (sources are planned one after the other; preflight calls the API). */
  longestPlannerTickMs: number;
  /** Operation counts for the cost model (bench/cost.ts), over the whole run. */
  usage: RunUsage;
  /** Per planner run (with a storage meter): what the planning step read (preflights excluded: their own step). */
  plannerTicks: PlannerTick[];
  /** Every planning step's real time and process CPU, with or without the counting proxies (without them, nothing but Azurite's answers adds to the step). */
  plannerSteps?: { tMin: number; realMs: number; cpuMs: number }[];
  /** Longest planner run in real time (the planning work itself; the virtual clock does not move while it computes). */
  longestPlannerTickRealMs: number;
  /** Process CPU to check the configuration document once, as every process does at its cold start. */
  configParseCpuMs: number;
  /** MTC_PLAN_CONCURRENCY of the collector under test. */
  planConcurrency?: number;
  /** Scenario e: detail enrichment per tenant with details on, and the waits of the tenants without (the control). */
  details?: { on: DetailRunFigures[]; offWaitedForDetail: number[] };
  /** Per source: its volume, Graph requests (simulator's count) and jobs run for it (issue 19: requests and page jobs per tenant). */
  perSource: SourceTally[];
}

/** One source's share of a run (bench/run.ts prints them by volume). */
export interface SourceTally { id: string; rowsPerDay: number; requests: number; jobs: number }

export interface RunUsage {
  /** Function executions: planner timer runs and page-job (queue trigger) runs. */
  plannerExecutions: number;
  pageJobExecutions: number;
  /**
   * Jobs the page-job executions ran: a page batch's entries each count (one page each), so this
   * is the executions when nothing was batched. `batchMessages` page batches held `batchedJobs`.
   */
  pageJobs?: number;
  batchMessages?: number;
  batchedJobs?: number;
  /** `mtc.plan` spans: one per source and planner run that had something due (functions/plan.ts). */
  planSpans?: number;
  /** Clock time some planner run was executing (the timer has its own Flex scale group). */
  plannerActiveMs: number;
  /** Instance-time of the queue trigger's scale group: at each moment ceil(busy slots / perInstanceConcurrency) instances execute. */
  pageJobInstanceMs: number;
  /** Sum of page-job execution times (an upper bound: every execution on its own instance). */
  pageJobExecutionMs: number;
  perInstanceConcurrency: number;
  /** Storage requests of the collector and of the queue trigger's message deletes, by service and operation; set-up and the bench scheduler's receives and peeks excluded. */
  storage?: StorageCounts;
  /** The storage counts by `service operation resource` (resource without the table prefix). */
  storageByResource?: StorageCounts;
  /** What the collector's Application Insights exporter would send. */
  telemetry: TelemetryCounts;
  /** Requests to Microsoft Graph (token requests excluded) and to the destination. */
  graphRequests: number;
  destinationRequests: number;
  /** The collector's MTC_TRACE_SAMPLING: the share of its spans and dependencies ingested (older results: every one, 1). */
  traceSampling?: number;
}

/**
 * Ours needs https (@azure/identity only talks to an https authority), so its simulator's CA is
 * added to the process's default CAs. The baseline's plain `fetch` needs no TLS and talks http to
 * its own simulator (so TLS costs are left out of its CPU figure, in its favour). It works over
 * https too since each run trusts only its own simulator's CA (checked with a 1-day run).
 */
async function simulatorFor(sc: VirtualScenario, clock: ManualClock, https: boolean): Promise<Simulator> {
  const sim = await startSimulator({
    https,
    seed: sc.seed,
    clock,
    tokenLifetimeSec: 86_400,
    latency: { meanMs: sc.latencyMs, jitterMs: sc.latencyMs / 6 },
    throttle: { limit: LIMIT, windowMs: WINDOW_MS },
    tenants: Array.from({ length: sc.tenants }, (_, i) => ({
      rowsPerDay: sc.mix?.[i] ?? sc.rowsPerDay,
      traffic: { visibilityDelay: { minMs: 0, maxMs: 4 * MIN, distribution: 'uniform' as const }, ...(sc.statusWeights ? { status: sc.statusWeights } : {}) },
    })),
  });
  // Replace, not accumulate: every simulator's CA has the same subject, and with an earlier one still
  // trusted the next run's TLS handshakes failed (scenario c after a: no request at all).
  if (https) tls.setDefaultCACertificates([...BASE_CAS, sim.caCertificatePem!]);
  return sim;
}

const T0 = Date.UTC(2026, 2, 20, 12, 0, 0);
/** The process's CAs before any simulator's: each run trusts these plus its own simulator's CA only. */
const BASE_CAS = tls.getCACertificates('default');

/** Storage counts by resource without the table prefix, less what the benchmark itself sent (its receives, peeks and lag samples). */
function withoutObserver(counts: StorageCounts, prefix: string, own: Record<string, number>): StorageCounts {
  const out: StorageCounts = {};
  for (const [k, n] of Object.entries(counts)) out[k.split(prefix).join('')] = n;
  for (const [k, n] of Object.entries(own)) {
    out[k] = Math.max(0, (out[k] ?? 0) - n);
    if (!out[k]) delete out[k];
  }
  return out;
}

/** Runs "ours": the real planner and page worker, in virtual time. */
export async function runOurs(sc: VirtualScenario, connectionString: string, progress?: (msg: string) => void, meter?: StorageMeter): Promise<VirtualRun> {
  const clock = new ManualClock(T0);
  const sim = await simulatorFor(sc, clock, true);
  const receiver = await startCountingReceiver();
  const prefix = `b${Math.random().toString(36).slice(2, 8)}`;
  const env: NodeJS.ProcessEnv = {
    JobsStorage: connectionString, MTC_TABLE_PREFIX: prefix, MTC_PAGE_QUEUE: `${prefix}-jobs`,
    MTC_BUDGET_LIMIT: String(LIMIT), MTC_BUDGET_WINDOW_SECONDS: String(WINDOW_MS / 1000),
    ...(sc.pageBatchMax !== undefined ? { MTC_PAGE_BATCH_MAX: String(sc.pageBatchMax) } : {}),
    ...(sc.traceSampling !== undefined ? { MTC_TRACE_SAMPLING: String(sc.traceSampling) } : {}),
    ...(sc.planConcurrency !== undefined ? { MTC_PLAN_CONCURRENCY: String(sc.planConcurrency) } : {}),
  };
  sim.tenants.forEach((t, i) => { env[`SIM_SECRET_${i}`] = t.clientSecret; });
  const liveStart = T0 - sc.collectionDelayMs;
  const doc = {
    sources: sim.tenants.map((t, i) => ({
      id: `t${i}`,
      tenantId: t.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: `env:SIM_SECRET_${i}` },
      start: new Date(liveStart).toISOString(),
      collectionDelay: `${sc.collectionDelayMs / 1000}s`,
      pollInterval: `${sc.pollIntervalMs / 1000}s`,
      ...(sc.settle ? (sc.rereads ? { settle: { rereads: sc.rereads } } : {}) : { settle: { rereads: [] } }),
      ...(sc.details?.tenants.includes(i) ? { details: { enabled: true, dailyRequestCap: sc.details.dailyRequestCap } } : {}),
      destinations: ['count'],
    })),
    destinations: [{ id: 'count', type: 'http', url: receiver.url, allowInsecureLoopback: true, ...(sc.gzip ? { gzip: true } : {}) }],
  };
  const parseCpu = process.cpuUsage();
  const config: CollectorConfig = parseConfig(doc, { env }).config;
  const parsed = process.cpuUsage(parseCpu);
  const configParseCpuMs = (parsed.user + parsed.system) / 1000;
  const telemetry = new MeteredTelemetry(clock, METRIC_EXPORT_INTERVAL_MS);
  // The one wiring (shared/runtime.ts), with the virtual clock, the delay-holding queue and a metered telemetry.
  const rt = await createRuntime({
    env, clock, config, telemetry, log: new MemoryLogger(),
    queue: (client, c) => new VirtualDelayQueue(client, c),
  });
  meter?.reset();
  const { ledger, budget } = rt;
  const queue = rt.queue as VirtualDelayQueue;
  const q = rt.storage.queue(rt.queueName);
  const deps: WorkerDeps & { outboxStaleMs: number } = rt;
  // Worker slots for the deployment, derived from the budget and the expected latency.
  const sizing = deriveConcurrency({ tenants: sc.tenants, allowedPerWindow: budget.options.allowed, windowMs: WINDOW_MS, pageLatencyMs: sc.latencyMs, pageOverheadMs: 500 });
  const slots = Math.max(sizing.totalSlots, (sizing.batchSize + sizing.newBatchThreshold) * sizing.maximumInstanceCount);

  const outcomes: Record<string, number> = {};
  let errors = 0;
  let actors = 0;
  let busySlots = 0;
  let plannerBusy = false;
  let nextTick = T0;
  const samples: TickSample[] = [];
  const tenantIds = sim.tenants.map((t) => t.tenantId);
  const reqHistory: { at: number; total: number }[] = [];
  let peakRss = 0;
  let longestTickMs = 0;
  let backfill: VirtualRun['backfill'];
  let backfillRunId: string | undefined;
  let stopAt = sc.backfillMs ? Number.POSITIVE_INFINITY : T0 + sc.durationMs;
  // The planning step's own reads, through a second counting proxy in front of the first.
  const plannerMeter = meter ? await startStorageMeter(meter.connectionString) : undefined;
  const plannerDeps = plannerMeter ? { ...deps, ledger: new Ledger(storageFromEnvironment({ JobsStorage: plannerMeter.connectionString }), prefix) } : deps;
  const gaugeDeps: GaugeDeps = { ledger: plannerDeps.ledger, clock, telemetry: rt.telemetry, budget: rt.budget };
  const plannerTicks: PlannerTick[] = [];
  const plannerSteps: { tMin: number; realMs: number; cpuMs: number }[] = [];
  let longestTickRealMs = 0;
  /** The benchmark's own health reads (the lag it samples each tick): not the collector's, left out of the storage counts. */
  let observerReads = 0;
  let preflightBusy = false;

  const jobsBySource = new Map<string, number>();
  const totalRequests = () => tenantIds.reduce((a, t) => a + sim.stats(t).listRequests + sim.stats(t).detailRequests, 0);
  const detailSources = config.sources.filter((s) => s.details?.enabled);
  const backlogs = new Map<string, { tMin: number; pending: number }[]>(detailSources.map((s) => [s.id, []]));
  let nextBacklogAt = T0;

  const tick = async () => {
    const now = clock.now();
    const reads0 = plannerMeter?.reads();
    const requests0 = plannerMeter ? Object.values(plannerMeter.counts()).reduce((a, b) => a + b, 0) : 0;
    const byResource0 = plannerMeter?.byResource() ?? {};
    const cpu0 = process.cpuUsage();
    const real0 = performance.now();
    // As functions/plan.ts: MTC_PLAN_CONCURRENCY sources at a time; one source's failure does not stop the others.
    // The same per-source step as the timer: plan, then the gauges from what the planning read.
    const sent = await planSources(plannerDeps, config.sources, rt.settings, async (d, source) => {
      // As functions/plan.ts: an mtc.plan span only for a source with something due (counted).
      let spanned = false;
      const r = await planSourceTick({ ...d, inSpan: (run) => { spanned = true; return run(); } }, gaugeDeps, source);
      if (spanned || r.planError !== undefined) planSpans++;
      for (const err of [r.planError, r.gaugeError]) {
        if (err === undefined) continue;
        errors++;
        if (errors <= 5) progress?.(`planning ${source.id} failed: ${(err as Error).message}`);
      }
    }, rt.budget ? { budget: rt.budget } : {});
    batchMessages += sent.messages;
    batchedJobs += sent.jobs;
    const tickMs = clock.now() - now;
    if (tickMs > longestTickMs) longestTickMs = tickMs;
    const realMs = performance.now() - real0;
    if (realMs > longestTickRealMs) longestTickRealMs = realMs;
    { const c = process.cpuUsage(cpu0); plannerSteps.push({ tMin: (now - T0) / MIN, realMs, cpuMs: (c.user + c.system) / 1000 }); }
    if (plannerMeter && reads0) {
      const r = plannerMeter.reads();
      const cpu = process.cpuUsage(cpu0);
      const requests = Object.values(plannerMeter.counts()).reduce((a, b) => a + b, 0) - requests0;
      const byResource = Object.fromEntries(Object.entries(plannerMeter.byResource()).map(([k, n]) => [k.split(prefix).join(''), n - (byResource0[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
      plannerTicks.push({ tMin: (now - T0) / MIN, entitiesPerSource: (r.entities - reads0.entities) / config.sources.length, nonKeyQueries: r.nonKeyQueries - reads0.nonKeyQueries, realMs, cpuMs: (cpu.user + cpu.system) / 1000, requests, byResource });
    }
    const lags: number[] = [];
    for (const source of config.sources) {
      observerReads++;
      const h = await ledger.getHealth(source.id);
      lags.push((now - (h?.completedUntil || liveStart)) / MIN);
    }
    if (sc.backfillMs && !backfill) {
      // Start the backfill once the live slices have measured the density (as an operator would, a
      // few minutes after deploying), through the real backfill function.
      observerReads++;
      const doneLive = (await ledger.getHealth('t0'))?.completedUntil ?? 0;
      if (doneLive > liveStart) {
        const startMs = liveStart - sc.backfillMs;
        const res = await startBackfill(rt, 't0', { start: new Date(startMs).toISOString(), end: new Date(liveStart).toISOString() }, (id) => `/backfill/${id}`);
        if (res.status !== 202) throw new Error(`startBackfill answered ${res.status}: ${JSON.stringify(res.body)}`);
        backfillRunId = String(res.body.runId);
        backfill = { startedAt: now, startMs, endMs: liveStart, rows: 0, requests: 0, slices: Number(res.body.slicesTotal) };
        progress?.(`backfill ${backfillRunId}: ${backfill.slices} slice(s) at +${((now - T0) / MIN).toFixed(0)} sim-min`);
      }
    }
    if (detailSources.length && now >= nextBacklogAt) {
      nextBacklogAt += 15 * MIN;
      for (const s of detailSources) backlogs.get(s.id)!.push({ tMin: (now - T0) / MIN, pending: (await sweepDetails(rt, s, { resend: false })).pending });
    }
    const duringBackfill = !!backfill && backfill.doneAt === undefined;
    if (backfill && backfill.doneAt === undefined && backfillRunId) {
      const run = await runStore(ledger).getRun('t0', backfillRunId);
      const p = await runProgress(rt, run!);
      backfill.rows = p.rows;
      backfill.requests = p.requests;
      if (p.state === 'done') {
        backfill.doneAt = now;
        stopAt = now + sc.afterBackfillMs;
        progress?.(`backfill done at +${((now - backfill.startedAt) / MIN).toFixed(1)} sim-min after its start, ${p.rows} rows in ${p.requests} requests`);
      }
    }
    const total = totalRequests();
    reqHistory.push({ at: now, total });
    // Requests in (now - 5 min, now]: the total now minus the total at the last tick at or before now - 5 min.
    while (reqHistory.length > 1 && reqHistory[1]!.at <= now - WINDOW_MS) reqHistory.shift();
    const inWindow = total - (reqHistory[0]!.at <= now - WINDOW_MS ? reqHistory[0]!.total : 0);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    samples.push({
      tMin: (now - T0) / MIN, rows: receiver.rows, budgetUse: inWindow / (budget.options.allowed * sc.tenants),
      lagMin: Math.max(...lags), requestsInWindow: inWindow, lagsMin: lags, duringBackfill,
    });
    if (samples.length % 60 === 0) progress?.(`+${((now - T0) / MIN).toFixed(0)} sim-min: ${receiver.rows} rows delivered, lag ${Math.max(...lags).toFixed(1)} min, ${inWindow} requests in the last 5 min, ${queue.heldCount} delayed job(s)`);
  };

  const startActor = (fn: () => Promise<void>, onEnd: () => void) => {
    actors++;
    void fn().catch((err: unknown) => {
      errors++;
      if (errors <= 5) console.error(`bench: ${(err as Error).stack ?? String(err)}`);
    }).finally(() => { actors--; onEnd(); });
  };

  const quiescent = () => clock.pendingSleeps() >= actors;
  // Flex bills an instance while it executes at least one function: host.json's batchSize 4 +
  // newBatchThreshold 2 = 6 page jobs per instance of the queue trigger's scale group.
  const perInstanceConcurrency = 6;
  let plannerExecutions = 0;
  let pageJobExecutions = 0;
  /** Jobs run (a batch's entries each count), and the batches the planner sent and the jobs they held. */
  let pageJobs = 0;
  let batchMessages = 0;
  let batchedJobs = 0;
  /** mtc.plan spans the timer would record (one per source and run with something due). */
  let planSpans = 0;
  let plannerActiveMs = 0;
  let pageJobInstanceMs = 0;
  let pageJobExecutionMs = 0;
  let peeks = 0;
  let receives = 0;
  const cpu0 = process.cpuUsage();
  const real0 = performance.now();
  let stopping = false;
  let stuck = 0;
  while (true) {
    if (!stopping && clock.now() >= stopAt) stopping = true;
    if (stopping && actors === 0) break;
    if (!stopping) await queue.releaseDue();
    if (!stopping && !plannerBusy && clock.now() >= nextTick) {
      plannerBusy = true;
      plannerExecutions++;
      nextTick += sc.pollIntervalMs;
      startActor(tick, () => { plannerBusy = false; });
      // As functions/plan.ts: the preflight step runs beside the planning, never inside it.
      if (!preflightBusy) {
        preflightBusy = true;
        startActor(async () => { await runDuePreflights(rt, config.sources); }, () => { preflightBusy = false; });
      }
    }
    let got = 0;
    const idle = slots - busySlots;
    // The timer runs on instances of its own (Flex scales each trigger on its own), so no page job
    // starts in this process while the planning step runs: its real time and the process CPU during
    // it are the planning's (and the counting proxies'). The step takes no simulated time, so the
    // jobs it sends start at the same simulated moment as they would beside it.
    if (!stopping && idle > 0 && !plannerBusy) {
      receives++;
      const r = await q.receiveMessages({ numberOfMessages: Math.min(32, idle), visibilityTimeout: 3600 });
      for (const m of r.receivedMessageItems) {
        got++;
        busySlots++;
        pageJobExecutions++;
        startActor(async () => {
          const job = decodeJob(Buffer.from(m.messageText, 'base64').toString('utf8'));
          for (const entry of isPageBatch(job) ? job.jobs : [job]) jobsBySource.set(entry.sourceId, (jobsBySource.get(entry.sourceId) ?? 0) + 1);
          pageJobs += isPageBatch(job) ? job.jobs.length : 1;
          const meta = { messageId: m.messageId, dequeueCount: m.dequeueCount };
          let res: PageResultSummary;
          if (isPageBatch(job)) {
            // A batch's entries run at once: each counts as an actor while it runs (the clock jumps
            // only when every actor sleeps, and each entry waits on its own request), the last one's
            // count going on with this execution.
            let running = job.jobs.length;
            actors += running - 1;
            res = await processPageBatch(job, meta, async (entry, entryMeta) => {
              try {
                return await processPageJob(deps, entry, entryMeta);
              } finally {
                if (--running > 0) actors--;
              }
            }, deps.ledger, deps.log);
          } else {
            res = await processJob(deps, job, meta);
          }
          for (const r of outcomesOf(res)) {
            outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
            if (r.error && errors + (outcomes['retry-scheduled'] ?? 0) <= 5) progress?.(`page ${r.outcome}: ${r.error.message}`);
          }
          await q.deleteMessage(m.messageId, m.popReceipt);
        }, () => { busySlots--; });
      }
    }
    if (got) continue;
    if (actors > 0 && !quiescent()) {
      if (++stuck % 5000 === 0) progress?.(`waiting for ${actors - clock.pendingSleeps()} actor(s) not on a clock sleep (${busySlots} busy slot(s), planner ${plannerBusy ? 'busy' : 'idle'}, ${clock.pendingSleeps()} sleep(s))`);
      await realWait(1);
      continue;
    }
    stuck = 0;
    // Everything waits on the clock (or nothing runs): confirm nothing became visible, then jump.
    peeks++;
    if (!stopping && idle > 0 && (await q.peekMessages({ numberOfMessages: 1 })).peekedMessageItems.length) continue;
    if (actors > 0 && !quiescent()) continue;
    // A tick that is due while the previous one still runs starts when it ends (functions/plan.ts plans
    // the sources one after the other; with preflight at 3 s a request a tick can outlast a minute).
    const candidates = [clock.nextWakeUp(), stopping ? undefined : queue.nextDue(), stopping || plannerBusy ? undefined : nextTick].filter((x): x is number => x !== undefined);
    const next = Math.min(...candidates);
    if (next > clock.now()) {
      // Nothing changes state while the clock jumps: integrate the active time over the jump.
      const dt = Math.ceil(next) - clock.now();
      if (plannerBusy) plannerActiveMs += dt;
      pageJobInstanceMs += dt * Math.ceil(busySlots / perInstanceConcurrency);
      pageJobExecutionMs += dt * busySlots;
      clock.set(Math.ceil(next));
    }
    else {
      if (++stuck % 5000 === 0) progress?.(`nothing to jump to: ${actors} actor(s), ${clock.pendingSleeps()} sleep(s), next ${next - clock.now()} ms`);
      await realWait(1);
    }
  }
  const cpu = process.cpuUsage(cpu0);
  const realSeconds = (performance.now() - real0) / 1000;
  const storageCounts = meter?.counts();
  // The scheduler's own peeks and receive polls are not the collector's: the Functions host receives
  // and polls on its own schedule, which bench/cost.ts models (one receive per job plus idle polling).
  for (const [op, n] of [['queue peek', peeks], ['queue get-messages', receives], ['table read-entity', observerReads]] as const) {
    if (!storageCounts) break;
    storageCounts[op] = Math.max(0, (storageCounts[op] ?? 0) - n);
    if (!storageCounts[op]) delete storageCounts[op];
  }
  if (receiver.rows === 0) {
    // Figures of a run that collected nothing would be meaningless: say why instead.
    const why = await Promise.all(config.sources.slice(0, 3).map(async (s) => {
      const h = await ledger.getHealth(s.id);
      return `${s.id}: ${h?.state ?? 'no health row'}${h?.lastError ? ` (${h.lastError})` : ''}`;
    }));
    await receiver.close();
    await sim.stop();
    throw new Error(`ours delivered no row in ${((clock.now() - T0) / MIN).toFixed(0)} sim-min; source health: ${why.join('; ')}`);
  }

  const byKind: VirtualRun['byKind'] = {};
  const rereadMap = new Map<number, { level: number; slices: number; rows: number; requests: number }>();
  for (const source of config.sources) {
    for await (const s of ledger.listSlices(source.id)) {
      const k = (byKind[s.kind] ??= { slices: 0, rows: 0, requests: 0 });
      k.slices++; k.rows += s.rows; k.requests += s.requests;
      const m = /^R(\d+)-/.exec(s.id);
      if (s.kind === 'rescan' && m) {
        const level = Number(m[1]);
        const r = rereadMap.get(level) ?? { level, slices: 0, rows: 0, requests: 0 };
        r.slices++; r.rows += s.rows; r.requests += s.requests;
        rereadMap.set(level, r);
      }
    }
  }
  let details: VirtualRun['details'];
  if (sc.details) {
    const on: DetailRunFigures[] = [];
    for (const s of detailSources) {
      const f: DetailRunFigures = {
        source: s.id, qualifying: 0, requests: sim.stats(s.tenantId).detailRequests, done: 0, skippedCap: 0, skippedRetention: 0, parked: 0, pending: 0,
        delaysSec: [], waitedForDetail: (await budget.usage(s.tenantId)).waitedForDetail, backlog: backlogs.get(s.id) ?? [],
      };
      for await (const r of rt.details.listRange(s.id, 0, clock.now() + DAY)) {
        f.qualifying++;
        if (r.state === 'done') {
          f.done++;
          f.delaysSec.push((r.doneAt - r.collectedAt) / 1000);
        } else if (r.state === 'skipped') {
          if (r.skipReason === 'cap') f.skippedCap++;
          else f.skippedRetention++;
        } else if (r.state === 'parked') f.parked++;
        else f.pending++;
      }
      on.push(f);
    }
    const offWaitedForDetail = await Promise.all(config.sources.filter((s) => !s.details?.enabled).map(async (s) => (await budget.usage(s.tenantId)).waitedForDetail));
    details = { on, offWaitedForDetail };
  }
  const result: VirtualRun = {
    startedAt: T0, endedAt: clock.now(), slots, samples,
    rowsDelivered: receiver.rows, bytesDelivered: receiver.bytes, repeatedEvents: receiver.repeated, checkedEvents: receiver.checked,
    requests: totalRequests(),
    throttled429: tenantIds.reduce((a, t) => a + sim.stats(t).throttled, 0),
    byKind, rereads: [...rereadMap.values()].sort((a, b) => a.level - b.level),
    outcomes, errors, ...(backfill ? { backfill } : {}),
    cpuMs: (cpu.user + cpu.system) / 1000, peakRssMB: peakRss / 1024 / 1024, realSeconds,
    allowedPerWindow: budget.options.allowed,
    longestPlannerTickMs: longestTickMs,
    plannerTicks, plannerSteps, longestPlannerTickRealMs: longestTickRealMs, configParseCpuMs, planConcurrency: rt.settings.planConcurrency,
    ...(details ? { details } : {}),
    perSource: config.sources.map((source, i) => ({
      id: source.id, rowsPerDay: sc.mix?.[i] ?? sc.rowsPerDay, requests: sim.stats(tenantIds[i]!).listRequests + sim.stats(tenantIds[i]!).detailRequests, jobs: jobsBySource.get(source.id) ?? 0,
    })),
    usage: {
      plannerExecutions, pageJobExecutions, pageJobs, batchMessages, batchedJobs, planSpans, plannerActiveMs, pageJobInstanceMs, pageJobExecutionMs, perInstanceConcurrency, traceSampling: rt.settings.traceSampling,
      ...(storageCounts ? { storage: storageCounts } : {}),
      ...(meter ? { storageByResource: withoutObserver(meter.byResource(), prefix, { 'queue peek -jobs': peeks, 'queue get-messages -jobs': receives, 'table read-entity health': observerReads }) } : {}),
      telemetry: telemetry.flush(),
      graphRequests: totalRequests(),
      destinationRequests: receiver.requests,
    },
  };
  await plannerMeter?.close();
  await receiver.close();
  await sim.stop();
  for (const t of [...ledger.tableNames(), `${prefix}budget`, DetailStore.tableName(prefix)]) await rt.storage.table(t).deleteTable().catch(() => undefined);
  for (const name of [rt.queueName, `${rt.queueName}-poison`, `${rt.queueName}-poison-poison`]) await rt.storage.queue(name).delete().catch(() => undefined);
  return result;
}

export interface BaselineRun {
  startedAt: number;
  endedAt: number;
  samples: TickSample[];
  rows: number;
  requests: number;
  backfillRows: number;
  backfillRequests: number;
  throttled429: number;
  /** The single cursor passed the end of the backfill range. */
  backfillDoneAt?: number;
  /** After that, the cursor reached the live edge: the rows that arrived meanwhile are collected too. */
  caughtUpAt?: number;
  cpuMs: number;
  peakRssMB: number;
  realSeconds: number;
}

/** Runs the peer-like baseline (one sequential worker, $top 1000, fixed 5-minute windows) on the same virtual clock. */
export async function runBaseline(sc: VirtualScenario, progress?: (msg: string) => void): Promise<BaselineRun> {
  const clock = new ManualClock(T0);
  const sim = await simulatorFor(sc, clock, false);
  const liveStart = T0 - sc.collectionDelayMs;
  const recorder = new Recorder(clock, T0);
  const tenants = sim.tenants.map((t) => ({
    tenantId: t.tenantId, clientId: t.clientId, clientSecret: t.clientSecret,
    ...(sc.backfillMs ? { backfill: { startMs: liveStart - sc.backfillMs, endMs: liveStart } } : {}),
  }));
  const collector = new BaselineCollector({ clock, baseUrl: sim.baseUrl, tenants, recorder, collectionDelayMs: sc.collectionDelayMs, pollIntervalMs: sc.pollIntervalMs });
  const cpu0 = process.cpuUsage();
  const real0 = performance.now();
  let actors = 1;
  const running = collector.start().finally(() => { actors = 0; });
  const samples: TickSample[] = [];
  let nextTick = T0;
  let stopAt = sc.backfillMs ? Number.POSITIVE_INFINITY : T0 + sc.durationMs;
  let doneAt: number | undefined;
  let caughtUpAt: number | undefined;
  let peakRss = 0;
  const reqTimes = recorder.requestTimes;
  while (true) {
    const now = clock.now();
    if (now >= nextTick) {
      nextTick += sc.pollIntervalMs;
      // A baseline that cannot reach its simulator would otherwise idle through simulated days.
      if (recorder.errors >= 50 && recorder.rows === 0) {
        collector.stop();
        await sim.stop();
        throw new Error(`the baseline failed its first ${recorder.errors} requests (see the errors above); its figures would be meaningless`);
      }
      const lags = collector.lagsMs().map((l) => l / MIN);
      // The baseline's backfill holds its live collection back until its cursor has caught up.
      const running2 = sc.backfillMs > 0 && collector.caughtUpAt() === undefined;
      if (sc.backfillMs && doneAt === undefined && !collector.backfillRunning()) {
        doneAt = collector.backfillFinishedAt() ?? now;
        progress?.(`baseline backfill range done at +${((doneAt - T0) / MIN).toFixed(1)} sim-min; catching up with the rows that arrived meanwhile`);
      }
      if (sc.backfillMs && doneAt !== undefined && caughtUpAt === undefined && collector.caughtUpAt() !== undefined) {
        caughtUpAt = collector.caughtUpAt()!;
        stopAt = now + sc.afterBackfillMs;
        progress?.(`baseline caught up with live at +${((caughtUpAt - T0) / MIN).toFixed(1)} sim-min`);
      }
      let inWindow = 0;
      for (let i = reqTimes.length - 1; i >= 0 && reqTimes[i]! > now - WINDOW_MS; i--) inWindow++;
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      samples.push({ tMin: (now - T0) / MIN, rows: recorder.rows, budgetUse: inWindow / (90 * sc.tenants), lagMin: Math.max(...lags), requestsInWindow: inWindow, lagsMin: lags, duringBackfill: running2 });
      if (samples.length % 120 === 0) progress?.(`baseline +${((now - T0) / MIN).toFixed(0)} sim-min: ${recorder.rows} rows, lag ${Math.max(...lags).toFixed(1)} min`);
      if (now >= stopAt) break;
    }
    if (clock.pendingSleeps() < actors) {
      await realWait(1);
      continue;
    }
    const next = Math.min(clock.nextWakeUp() ?? Number.POSITIVE_INFINITY, nextTick);
    if (next > clock.now()) clock.set(Math.ceil(next));
  }
  collector.stop();
  await running.catch(() => undefined);
  const cpu = process.cpuUsage(cpu0);
  const stats = sim.tenants.reduce((a, t) => a + sim.stats(t.tenantId).throttled, 0);
  await sim.stop();
  return {
    startedAt: T0, endedAt: clock.now(), samples, rows: recorder.rows, requests: recorder.requests,
    backfillRows: recorder.backfillRows, backfillRequests: recorder.backfillRequests, throttled429: stats,
    ...(doneAt !== undefined ? { backfillDoneAt: doneAt } : {}),
    ...(caughtUpAt !== undefined ? { caughtUpAt } : {}),
    cpuMs: (cpu.user + cpu.system) / 1000, peakRssMB: peakRss / 1024 / 1024, realSeconds: (performance.now() - real0) / 1000,
  };
}
