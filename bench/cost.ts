/**
 * Monthly Azure cost of a deployment, from the operation counts the benchmark measures
 * (bench/virtual.ts RunUsage, bench/meter.ts) and the list prices below. docs/cost.md shows the
 * figures `npm run bench -- --usage ...` prints with this model; change PRICES and rerun to reprice.
 */
import type { RunUsage } from './virtual';
import { hostEnvelopeBytes } from './meter';

/** Pay-as-you-go list prices in USD (East US, LRS, Hot), as recorded in docs/cost.md. */
export const PRICES = {
  flexGbSecond: 0.000026,
  flexFreeGbSecondsPerMonth: 100_000,
  flexPerMillionExecutions: 0.40,
  flexFreeExecutionsPerMonth: 250_000,
  tablePer10k: 0.00036,
  queueClass1Per10k: 0.05,
  queueClass2Per10k: 0.004,
  blobWritePer10k: 0.05,
  blobReadPer10k: 0.004,
  logAnalyticsPerGb: 2.30,
  /** Ingestion into a table on the Basic plan (the storage logs' default, infra storageLogsPlan). */
  basicLogsPerGb: 0.50,
  /**
   * Data processing of a workspace transformation, per GB it filters out beyond half of what
   * enters it (per rule and day); the storage logs' filter (infra storageLogsCollectorRequests).
   */
  logDataProcessingPerGb: 0.10,
  keyVaultPer10k: 0.03,
  egressPerGb: 0.087,
  egressFreeGbPerMonth: 100,
} as const;

/** Host activity the benchmark does not run (no Functions host in it), per deployment and day. */
export const HOST_ASSUMPTIONS = {
  /** The queue trigger receives each message (one get-messages per job, an upper bound: it takes batches of up to 4). */
  receivesPerJob: 1,
  /** An instance of the page-worker scale group polls page-jobs at least every maxPollingInterval (host.json: 5 s) while it lives. */
  idlePollsPerInstanceDay: 86_400 / 5,
  /** Host lock and timer singleton lock lease renewals (about every 7.5 s each) and the timer's schedule status blob. */
  hostBlobWritesPerDay: 2 * 11_520 + 1440,
  hostBlobReadsPerDay: 1440,
  /** "Executing"/"Executed" trace records per function execution, about 450 bytes each. */
  tracesPerExecution: 2,
  traceBytes: 450,
  /** Key Vault reads: each source's client secret about once an hour (cached in between). */
  keyVaultReadsPerSourcePerDay: 24,
  /** Storage diagnostic log record size (StorageWrite/StorageDelete), bytes. */
  storageLogRecordBytes: 1500,
  /**
   * Execution time each storage request adds (in-region round trip). The virtual clock counts only
   * the simulated Graph latency, so the model adds this for every counted storage request.
   */
  storageLatencyMs: 10,
};

const DAYS_PER_MONTH = 30;
const DAY_MS = 86_400_000;

/**
 * Billed instance time a day of the page-worker scale group when executions add up to
 * `executionMsPerDay` and an instance runs up to `perInstance` at once: with K executions running
 * at a moment (Poisson with mean a = executionMsPerDay / day), ceil(K / perInstance) instances
 * are billed, so the day bills E[ceil(K / perInstance)] instance-days. For one quiet tenant (a far
 * below 1) that is the execution time itself; for a thousand tenants (a in the tens) about a sixth
 * of it. A measured run's own instance time (bench/virtual.ts) is one sample of this for its
 * tenant count; scaling that sample linearly to another count would bill 1000 tenants as if no
 * two of their jobs ever shared an instance. Page jobs arrive in bursts after each planner run,
 * which packs them better than Poisson arrivals: this errs on the dear side.
 */
export function instanceMsPerDay(executionMsPerDay: number, perInstance: number): number {
  const a = executionMsPerDay / DAY_MS;
  if (!(a > 0)) return 0;
  const c = Math.max(1, Math.floor(perInstance));
  // Sum of P(K = k) * ceil(k / c), k = 1 .. far past the mean (the pmf by recurrence, in logs for large a).
  const last = Math.ceil(a + 12 * Math.sqrt(a) + 30);
  let logP = -a;
  let expected = 0;
  for (let k = 1; k <= last; k++) {
    logP += Math.log(a) - Math.log(k);
    expected += Math.exp(logP) * Math.ceil(k / c);
  }
  return expected * DAY_MS;
}

export interface DailyUsage {
  executions: number;
  /** Page jobs run: a page batch's entries each count (one `mtc.page` span each). */
  pageJobs: number;
  /** Queue trigger executions (a page batch is one). */
  pageJobExecutions: number;
  gbSeconds: number;
  table: number;
  queueClass1: number;
  queueClass2: number;
  blobWrites: number;
  blobReads: number;
  /** Application Insights ingestion (custom metrics and events, requests, dependencies, traces). */
  telemetryBytes: number;
  /** Storage diagnostic settings (writes and deletes logged). */
  storageLogBytes: number;
  keyVaultOps: number;
  egressBytes: number;
}

/**
 * Per-day usage of `tenants` sources, scaled from a measured run of `run.tenants` sources lasting
 * `run.durationMs`: everything the sources cause scales with their number, except the page
 * workers' billed instance time, which follows from their executions' time (instanceMsPerDay); the
 * planner timer runs once a minute whatever their number, and the host's own activity is per
 * deployment.
 */
export function dailyUsage(usage: RunUsage, run: { tenants: number; durationMs: number; bytesDelivered: number }, tenants: number, instanceMemoryMB = 2048): DailyUsage {
  const perDay = (x: number) => (x * 86_400_000) / run.durationMs;
  const perTenantDay = (x: number) => perDay(x) / run.tenants * tenants;
  const s = usage.storage ?? {};
  const sum = (re: RegExp) => Object.entries(s).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
  const executionsSources = perTenantDay(usage.pageJobExecutions);
  const pages = perTenantDay(usage.pageJobs ?? usage.pageJobExecutions);
  const storageOps = perTenantDay(sum(/./));
  // Billed instance time from the executions' time (instanceMsPerDay: jobs of many tenants share
  // instances); each storage request lengthens its execution (the virtual clock counts only the
  // Graph latency).
  const instanceMs = instanceMsPerDay(perTenantDay(usage.pageJobExecutionMs) + storageOps * HOST_ASSUMPTIONS.storageLatencyMs, usage.perInstanceConcurrency || 6);
  // Instances of the page-worker group that stay up (and poll): at least one, else the mean number active.
  const pollingInstances = Math.max(1, Math.ceil(instanceMs / DAY_MS));
  const plannerExecutions = perDay(usage.plannerExecutions);
  const executions = executionsSources + plannerExecutions;
  const gb = instanceMemoryMB / 1024;
  const gbSeconds = gb * (instanceMs + perTenantDay(usage.plannerActiveMs)) / 1000;
  const graph = perTenantDay(usage.graphRequests);
  const dest = perTenantDay(usage.destinationRequests);
  const host = hostEnvelopeBytes();
  // Telemetry by design (shared/telemetry-setup.ts TELEMETRY_DESIGN): the host's request record
  // and traces per execution (a page batch is one), the collector's spans (one `mtc.page` per page
  // job, a batch's entries each, one `mtc.plan` per source and planner run with something due) and dependencies for
  // the API and destination calls; storage calls record none (Azure SDK instrumentation off,
  // storage hosts ignored by the HTTP instrumentation).
  // One mtc.plan span per source and run with something due (older results: every run).
  const planSpans = usage.planSpans !== undefined ? perTenantDay(usage.planSpans) : perDay(usage.plannerExecutions) * tenants;
  // Spans and dependencies are sampled by trace (MTC_TRACE_SAMPLING); the host's request record
  // and traces per execution, the metrics and the custom events are not.
  const sampled = usage.traceSampling ?? 1;
  const telemetryBytes = perTenantDay(usage.telemetry.metricBytes + usage.telemetry.eventBytes)
    + executions * (host.request + HOST_ASSUMPTIONS.tracesPerExecution * HOST_ASSUMPTIONS.traceBytes)
    + sampled * ((pages + planSpans) * host.request + (graph + dest) * host.dependency);
  const writesAndDeletes = perTenantDay(sum(/^table (write|batch)|^queue (put|delete|update)|^blob (write|delete|lease)/));
  return {
    executions,
    pageJobs: pages,
    pageJobExecutions: executionsSources,
    gbSeconds,
    table: perTenantDay(sum(/^table /)),
    queueClass1: perTenantDay(sum(/^queue (put-message|update-message|get-messages|clear|put-|post-)/))
      + executionsSources * HOST_ASSUMPTIONS.receivesPerJob + pollingInstances * HOST_ASSUMPTIONS.idlePollsPerInstanceDay,
    queueClass2: perTenantDay(sum(/^queue (peek|delete-message|get-)/)),
    blobWrites: perTenantDay(sum(/^blob (write|lease|list|put-container)/)) + HOST_ASSUMPTIONS.hostBlobWritesPerDay,
    blobReads: perTenantDay(sum(/^blob (read|get-container)/)) + HOST_ASSUMPTIONS.hostBlobReadsPerDay,
    telemetryBytes,
    storageLogBytes: writesAndDeletes * HOST_ASSUMPTIONS.storageLogRecordBytes,
    keyVaultOps: HOST_ASSUMPTIONS.keyVaultReadsPerSourcePerDay * tenants,
    egressBytes: perTenantDay(run.bytesDelivered),
  };
}

export interface MonthlyCost {
  functions: number;
  storage: number;
  telemetry: number;
  diagnostics: number;
  keyVault: number;
  egress: number;
  total: number;
}

/** Where the storage diagnostic logs land: infra/main.bicep `storageLogsPlan` (default Basic). */
export type StorageLogsPlan = 'Basic' | 'Analytics';

/** The storage logs' infra parameters (infra/main.bicep). */
export interface StorageLogsOptions {
  /** `storageLogsPlan`, default Basic. */
  plan?: StorageLogsPlan;
  /**
   * `storageLogsCollectorRequests`, default false: a workspace transformation drops the records of
   * the collector identity's successful requests, which is every record the benchmark counts (the
   * collector and the host run as that identity). What is dropped beyond half of what enters the
   * rule is billed as data processing.
   */
  collectorRequests?: boolean;
}

/** The storage logs' monthly cost for `gb` of records a month, all of them the collector's own. */
export function storageLogsCost(gb: number, o: StorageLogsOptions = {}): number {
  const ingestion = (o.plan ?? 'Basic') === 'Basic' ? PRICES.basicLogsPerGb : PRICES.logAnalyticsPerGb;
  if (o.collectorRequests) return gb * ingestion;
  // Every record is filtered out: nothing is ingested, and what is filtered beyond half of what
  // entered the rule is billed as data processing.
  return Math.max(0, gb - gb / 2) * PRICES.logDataProcessingPerGb;
}

export function monthlyCost(d: DailyUsage, storageLogs: StorageLogsOptions = {}): MonthlyCost {
  const m = (x: number) => x * DAYS_PER_MONTH;
  const p = PRICES;
  const functions = Math.max(0, m(d.gbSeconds) - p.flexFreeGbSecondsPerMonth) * p.flexGbSecond
    + Math.max(0, m(d.executions) - p.flexFreeExecutionsPerMonth) / 1e6 * p.flexPerMillionExecutions;
  const storage = m(d.table) / 1e4 * p.tablePer10k + m(d.queueClass1) / 1e4 * p.queueClass1Per10k + m(d.queueClass2) / 1e4 * p.queueClass2Per10k
    + m(d.blobWrites) / 1e4 * p.blobWritePer10k + m(d.blobReads) / 1e4 * p.blobReadPer10k;
  const telemetry = m(d.telemetryBytes) / 1e9 * p.logAnalyticsPerGb;
  const diagnostics = storageLogsCost(m(d.storageLogBytes) / 1e9, storageLogs);
  const keyVault = m(d.keyVaultOps) / 1e4 * p.keyVaultPer10k;
  const egress = Math.max(0, m(d.egressBytes) / 1e9 - p.egressFreeGbPerMonth) * p.egressPerGb;
  return { functions, storage, telemetry, diagnostics, keyVault, egress, total: functions + storage + telemetry + diagnostics + keyVault + egress };
}

/**
 * The monthly cost one more tenant adds to a deployment of `of` tenants (free grants used up), and
 * what the deployment costs whatever its tenants (host polling and locks, the planner timer), on
 * instances of `instanceMemoryMB` (infra/main.bicep `instanceMemoryMB`, default 2048).
 */
export function perTenantCost(usage: RunUsage, run: { tenants: number; durationMs: number; bytesDelivered: number }, of = 1000, instanceMemoryMB = 2048, storageLogs: StorageLogsOptions = {}): { marginal: number; fixed: number; telemetryBytesPerPage: number; storageOpsPerPage: number; components: MonthlyCost } {
  const at = (n: number) => monthlyCost(dailyUsage(usage, run, n, instanceMemoryMB), storageLogs).total;
  const marginal = (at(of + 1) - at(1)) / of;
  const hi = monthlyCost(dailyUsage(usage, run, of + 1, instanceMemoryMB), storageLogs), lo = monthlyCost(dailyUsage(usage, run, 1, instanceMemoryMB), storageLogs);
  const components = Object.fromEntries(Object.keys(hi).map((k) => [k, (hi[k as keyof MonthlyCost] - lo[k as keyof MonthlyCost]) / of])) as unknown as MonthlyCost;
  const d = dailyUsage(usage, run, of, instanceMemoryMB);
  const s = usage.storage ?? {};
  const ops = Object.values(s).reduce((a, b) => a + b, 0);
  return { marginal, components, fixed: Math.max(0, at(of) - of * marginal), telemetryBytesPerPage: d.pageJobs ? d.telemetryBytes / d.pageJobs : NaN, storageOpsPerPage: (usage.pageJobs ?? usage.pageJobExecutions) ? ops / (usage.pageJobs ?? usage.pageJobExecutions) : NaN };
}

/** `node dist/bench/cost.js <result.json> [tenants ...]`: the cost table of a `npm run bench -- --usage` result file. */
export function costTable(result: { title: string; scenarioConfig: { tenants: number; rowsPerDay: number; durationMs: number }; usage: RunUsage; ours: { bytesDelivered: number } }, tenantCounts: number[]): string {
  const sc = result.scenarioConfig;
  const run = { tenants: sc.tenants, durationMs: sc.durationMs, bytesDelivered: result.ours.bytesDelivered };
  const rows = tenantCounts.map((tenants) => {
    const d = dailyUsage(result.usage, run, tenants);
    const m = monthlyCost(d);
    const f = (x: number) => `$${x.toFixed(2)}`;
    const per30 = (x: number, unit: number, digits = 2) => (x * DAYS_PER_MONTH / unit).toFixed(digits);
    return `| ${tenants} x ${sc.rowsPerDay.toLocaleString('en-US')} | ${f(m.functions)} (${per30(d.executions, 1e6)}M exec, ${per30(d.gbSeconds, 1e3, 0)}k GB-s) | ${f(m.storage)} (table ${per30(d.table, 1e6)}M, queue ${per30(d.queueClass1 + d.queueClass2, 1e6)}M, blob ${per30(d.blobWrites + d.blobReads, 1e6)}M) | ${f(m.telemetry)} (${per30(d.telemetryBytes, 1e9)} GB) | ${f(m.diagnostics)} (${per30(d.storageLogBytes, 1e9)} GB) | ${f(m.keyVault)} | ${f(m.egress)} (${per30(d.egressBytes, 1e9, 0)} GB) | **${f(m.total)}** |`;
  });
  return [
    `Measured: ${result.title}`,
    '',
    '| tenants x rows/day | Flex Consumption | storage transactions | App Insights ingestion | storage diagnostics | Key Vault | egress | total / month |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

if (require.main === module) {
  const [file, ...counts] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/bench/cost.js <bench result .json with usage> [tenant counts, default 1 20 200]');
    process.exit(1);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  const result = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!result.usage?.storage) {
    console.error(`${file} has no storage counts: run the bench with --usage`);
    process.exit(1);
  }
  console.log(costTable(result, counts.length ? counts.map(Number) : [1, 20, 200]));
}
