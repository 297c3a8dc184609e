/**
 * `mtc bench [--scenario a|b|c|d[,..]] [--quick] [--latency-ms n] [--backfill-days n]
 *  [--hours n] [--tenants n] [--rows-per-day n] [--usage] [--no-baseline] [--no-page-cost] [--out dir]`
 * (options declared once, in cli/mtc.ts; `npm run bench` is an alias)
 *
 * --usage counts the operations Azure bills (storage transactions through a counting proxy in
 * front of Azurite, function executions and instance time, telemetry records and bytes) and prints
 * the monthly cost for 1, 20 and 200 tenants of the scenario's rows/day (bench/cost.ts, docs/cost.md).
 * --tenants and --rows-per-day override scenario a's or c's tenant count and volume.
 *
 * Runs the REAL planner and page worker (TenantBudget, ledger and queue on Azurite) against the
 * in-process simulator in virtual time (bench/virtual.ts), and the peer-like baseline on the same
 * virtual clock. Scenarios:
 *   a  live steady state, one tenant of 1M rows/day, settle re-reads on (their request cost)
 *   b  a 10-day backfill of that tenant (startBackfill) while live collection continues
 *   c  20 tenants of 100k rows/day in one deployment (live)
 *   d  an MSSP: 1000 tenants (mixOf: 1% at 1M rows/day, the rest 10k-100k), all new at the start,
 *      24 simulated hours with settle re-reads (--tenants and --hours make it smaller)
 *   e  detail enrichment (issue 17): two tenants of 1M rows/day, 3% of rows qualifying (1% each
 *      failed, quarantined, filteredAsSpam), settle re-reads on; details on for t0 (--detail-cap a
 *      day), off for t1 in the same run: detail requests a day, their share of the budget, the
 *      time to a row's detail events, live lag with details on vs off, the backlog, the cap
 * Writes bench/results/<scenario>.json and <scenario>.svg. Not part of the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startAzurite } from '../local/azurite';
import { runPageCost, type PageCostResult } from './page-cost';
import { percentile } from './recorder';
import { chartSvg } from './svg';
import { dailyUsage, HOST_ASSUMPTIONS, monthlyCost, perTenantCost, PRICES } from './cost';

/** A storage round trip in the region (the cost model's assumption, bench/cost.ts). */
const STORAGE_ROUND_TRIP_MS = HOST_ASSUMPTIONS.storageLatencyMs;
import { startStorageMeter, type StorageMeter } from './meter';
import { DAY, HOUR, MIN, PAGE_SIZE, REPEAT_CHECK_MAX, WINDOW_MS, runBaseline, runOurs, type BaselineRun, type PlannerTick, type VirtualRun, type VirtualScenario } from './virtual';

const ALLOWED = 90;

/** The benchmark's options, as `mtc bench` parsed and checked them (cli/mtc.ts declares them once). */
export interface BenchArgs { scenarios: string[]; quick: boolean; latencyMs: number; backfillDays?: number; hours?: number; tenants?: number; rowsPerDay?: number; detailCap?: number; pageBatch?: number; planConcurrency?: number; traceSampling?: number; gzip?: boolean; usage: boolean; baseline: boolean; pageCost: boolean; out: string }
type Args = BenchArgs;

/** Where results go unless --out says otherwise. */
export const DEFAULT_RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results');

function scenario(id: string, a: Args): { title: string; sc: VirtualScenario } {
  const common = { latencyMs: a.latencyMs, collectionDelayMs: 5 * MIN, pollIntervalMs: MIN, seed: 11, afterBackfillMs: 10 * MIN, backfillMs: 0, ...(a.pageBatch !== undefined ? { pageBatchMax: a.pageBatch } : {}), ...(a.traceSampling !== undefined ? { traceSampling: a.traceSampling } : {}), ...(a.planConcurrency !== undefined ? { planConcurrency: a.planConcurrency } : {}), ...(a.gzip ? { gzip: true } : {}) };
  if (id === 'a') {
    const hours = a.hours ?? (a.quick ? 8 : 26);
    const tenants = a.tenants ?? 1;
    const rows = a.rowsPerDay ?? 1_000_000;
    return { title: `a: live steady state, ${tenants} tenant(s) of ${rows} rows/day, ${hours} simulated hours, settle re-reads +1h/+6h/+24h`, sc: { ...common, tenants, rowsPerDay: rows, durationMs: hours * HOUR, settle: true } };
  }
  if (id === 'b') {
    const days = a.backfillDays ?? (a.quick ? 1 : 10);
    return { title: `b: ${days}-day backfill (startBackfill) of a 1M rows/day tenant while live continues`, sc: { ...common, tenants: 1, rowsPerDay: 1_000_000, durationMs: 0, backfillMs: days * DAY, settle: false } };
  }
  if (id === 'd') {
    const hours = a.hours ?? (a.quick ? 1 : 24);
    const tenants = a.tenants ?? 1000;
    const mix = mixOf(tenants);
    const perClass = [...new Set(mix)].sort((x, y) => y - x).map((r) => `${mix.filter((m) => m === r).length} x ${r}`).join(', ');
    return {
      title: `d: ${tenants} tenants (${perClass} rows/day), all new at the start, ${hours} simulated hours live, settle re-reads +1h/+6h/+24h`,
      sc: { ...common, tenants, rowsPerDay: Math.round(mix.reduce((x, y) => x + y, 0) / tenants), mix, durationMs: hours * HOUR, settle: true },
    };
  }
  if (id === 'e') {
    const hours = a.hours ?? (a.quick ? 2 : 6);
    const rows = a.rowsPerDay ?? 1_000_000;
    const cap = a.detailCap ?? 20_000;
    return {
      title: `e: detail enrichment, 2 tenants of ${rows} rows/day with 3% of rows qualifying, details on for t0 (cap ${cap}/day) and off for t1, ${hours} simulated hours, settle re-reads on`,
      sc: {
        ...common, tenants: 2, rowsPerDay: rows, durationMs: hours * HOUR, settle: true,
        statusWeights: { delivered: 0.95, failed: 0.01, quarantined: 0.01, filteredAsSpam: 0.01, expanded: 0.02, recalled: 0 },
        details: { tenants: [0], dailyRequestCap: cap },
      },
    };
  }
  const hours = a.hours ?? (a.quick ? 1 : 3);
  const tenants = a.tenants ?? 20;
  const rows = a.rowsPerDay ?? 100_000;
  return { title: `c: ${tenants} tenants of ${rows} rows/day in one deployment, ${hours} simulated hours live`, sc: { ...common, tenants, rowsPerDay: rows, durationMs: hours * HOUR, settle: false } };
}

/**
 * Scenario d's mix (an MSSP's tenants): 1% at 1M rows a day (at least one), 20% at 100k, 40% at
 * 30k, the rest at 10k. Busy tenants first, so a run of any size has each class it can hold.
 */
export function mixOf(tenants: number): number[] {
  const big = Math.max(1, Math.round(tenants * 0.01));
  const mid = Math.round(tenants * 0.2);
  const small = Math.round(tenants * 0.4);
  return Array.from({ length: tenants }, (_, i) => (i < big ? 1_000_000 : i < big + mid ? 100_000 : i < big + mid + small ? 30_000 : 10_000));
}

const r1 = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

function oursFigures(run: VirtualRun, sc: VirtualScenario) {
  const hasBackfill = !!run.backfill;
  const bf = run.backfill;
  const measuredEnd = bf?.doneAt ?? run.endedAt;
  const measuredStart = bf ? bf.startedAt : run.startedAt;
  const measuredMs = measuredEnd - measuredStart;
  const live = run.byKind.live ?? { slices: 0, rows: 0, requests: 0 };
  const rescan = run.byKind.rescan ?? { slices: 0, rows: 0, requests: 0 };
  const backfillKind = run.byKind.backfill ?? { slices: 0, rows: 0, requests: 0 };
  const lagSamples = run.samples.filter((s) => (hasBackfill ? s.duringBackfill : s.tMin >= 10)).flatMap((s) => s.lagsMin);
  const budgetSamples = run.samples.filter((s) => s.tMin * MIN + run.startedAt >= measuredStart + WINDOW_MS && s.tMin * MIN + run.startedAt <= measuredEnd);
  const pages = bf ? Math.ceil(backfillKind.rows / PAGE_SIZE) : 0;
  const theoreticalMin = bf ? (pages * 5) / ALLOWED : NaN;
  return {
    slots: run.slots,
    rows: run.rowsDelivered,
    requests: run.requests,
    rowsPerRequest: run.requests ? run.rowsDelivered / run.requests : 0,
    byKind: run.byKind,
    liveRowsPerRequest: live.requests ? live.rows / live.requests : 0,
    backfillRowsPerRequest: backfillKind.requests ? backfillKind.rows / backfillKind.requests : 0,
    rescanRequests: rescan.requests,
    /** Mean of (requests in the rolling 5 min / allowed) over the measured period (after its first window). */
    budgetUtilisation: budgetSamples.length ? budgetSamples.reduce((a, s) => a + s.budgetUse, 0) / budgetSamples.length : 0,
    throttled429: run.throttled429,
    outcomes: run.outcomes,
    errors: run.errors,
    wallMin: measuredMs / MIN,
    theoreticalMin,
    wallOverTheoretical: theoreticalMin ? measuredMs / MIN / theoreticalMin : NaN,
    lagP50Min: percentile(lagSamples, 50),
    lagP95Min: percentile(lagSamples, 95),
    lagMaxMin: lagSamples.length ? Math.max(...lagSamples) : 0,
    lagScope: hasBackfill ? 'during the backfill' : 'steady state (after the first 10 sim-min)',
    lagTargetMin: (sc.collectionDelayMs + 2 * sc.pollIntervalMs) / MIN,
    cpuMsPer1000Rows: run.rowsDelivered ? (run.cpuMs / run.rowsDelivered) * 1000 : 0,
    peakRssMB: run.peakRssMB,
    realSeconds: run.realSeconds,
    bytesDelivered: run.bytesDelivered,
    longestPlannerTickMin: run.longestPlannerTickMs / MIN,
  };
}

function baselineFigures(run: BaselineRun, sc: VirtualScenario) {
  const hasBackfill = sc.backfillMs > 0;
  // Equal work: ours' backfill ends with live collection current; the baseline's single cursor has
  // done the same work when it has also caught up with the rows that arrived during its backfill.
  const measuredMs = (run.caughtUpAt ?? run.backfillDoneAt ?? run.endedAt) - run.startedAt;
  const rangeMs = (run.backfillDoneAt ?? run.endedAt) - run.startedAt;
  const lagSamples = run.samples.filter((s) => (hasBackfill ? s.duringBackfill : s.tMin >= 10)).flatMap((s) => s.lagsMin);
  const budgetSamples = run.samples.filter((s) => s.tMin >= 5 && s.tMin * MIN <= measuredMs);
  return {
    rows: run.rows, requests: run.requests, rowsPerRequest: run.requests ? run.rows / run.requests : 0,
    backfillRowsPerRequest: run.backfillRequests ? run.backfillRows / run.backfillRequests : 0,
    budgetUtilisation: budgetSamples.length ? budgetSamples.reduce((a, s) => a + s.budgetUse, 0) / budgetSamples.length : 0,
    throttled429: run.throttled429,
    wallMin: measuredMs / MIN,
    /** Until the cursor passed the end of the backfill range, before catching up (b only). */
    wallRangeOnlyMin: rangeMs / MIN,
    lagP50Min: percentile(lagSamples, 50), lagP95Min: percentile(lagSamples, 95),
    cpuMsPer1000Rows: run.rows ? (run.cpuMs / run.rows) * 1000 : 0,
    peakRssMB: run.peakRssMB, realSeconds: run.realSeconds,
  };
}

/** The planning step's reads per source and run, by simulated hour (issue 19: flat from hour 1 to hour 24). */
function plannerFigures(run: VirtualRun) {
  if (!run.plannerTicks.length) return undefined;
  const hours = new Map<number, number[]>();
  for (const t of run.plannerTicks) {
    const h = Math.floor(t.tMin / 60);
    hours.set(h, [...(hours.get(h) ?? []), t.entitiesPerSource]);
  }
  const byHour = [...hours.entries()].sort((a, b) => a[0] - b[0]).map(([hour, xs]) => ({ hour, ticks: xs.length, entitiesPerSource: xs.reduce((a, b) => a + b, 0) / xs.length }));
  // Hour 1 without its first minutes: the first run of a new source creates its cursor and health row.
  const first = byHour[0]!.entitiesPerSource;
  const last = byHour[byHour.length - 1]!.entitiesPerSource;
  return {
    byHour, lastOverFirst: first ? last / first : NaN,
    nonKeyQueries: run.plannerTicks.reduce((a, t) => a + t.nonKeyQueries, 0),
    realMsP95: percentile(run.plannerTicks.map((t) => t.realMs), 95),
    longestRealMs: run.longestPlannerTickRealMs,
    // The planning step's own work where it runs alone (the timer has its own instances on Flex):
    // its storage requests at STORAGE_ROUND_TRIP_MS each, MTC_PLAN_CONCURRENCY sources at a time,
    // plus this process's CPU during the step (an upper bound of the planning's: page jobs in
    // flight, the simulator answering preflights and the counting proxies share the process). The
    // first run (every source new: cursors, health rows, catch-up slices) and the steady state
    // (from minute 10, as the lag), each its step with the most requests.
    ...((): object => {
      const concurrency = run.planConcurrency ?? 8; // results from before the setting planned 8 at a time
      const costed = (ts: PlannerTick[]) => {
        const t = ts.filter((x) => x.requests !== undefined).sort((a, b) => b.requests! - a.requests!)[0];
        return t ? { tMin: t.tMin, requests: t.requests!, cpuMs: t.cpuMs!, realMs: t.realMs, concurrency, onAzureMs: t.cpuMs! + (t.requests! * STORAGE_ROUND_TRIP_MS) / concurrency, ...(t.byResource ? { byResource: t.byResource } : {}) } : undefined;
      };
      const first = costed(run.plannerTicks.filter((t) => t.tMin < 1));
      const steady = costed(run.plannerTicks.filter((t) => t.tMin >= 10));
      return { ...(first ? { first } : {}), ...(steady ? { busiest: steady } : {}) };
    })(),
  };
}

/**
 * Per tenant volume (issue 19, quiet tenants): Graph requests and jobs per tenant and day, and lag
 * p50 / p95 from minute 10, by rows/day class.
 */
function volumeFigures(run: VirtualRun) {
  const days = (run.endedAt - run.startedAt) / DAY;
  const classes = [...new Set(run.perSource.map((s) => s.rowsPerDay))].sort((a, b) => a - b);
  return classes.map((rowsPerDay) => {
    const idx = run.perSource.flatMap((s, i) => (s.rowsPerDay === rowsPerDay ? [i] : []));
    const lags = run.samples.filter((s) => s.tMin >= 10).flatMap((s) => idx.map((i) => s.lagsMin[i]!));
    const sum = (f: (s: VirtualRun['perSource'][number]) => number) => idx.reduce((a, i) => a + f(run.perSource[i]!), 0);
    return {
      rowsPerDay, tenants: idx.length,
      requestsPerDay: sum((s) => s.requests) / idx.length / days,
      jobsPerDay: sum((s) => s.jobs) / idx.length / days,
      lagP50Min: percentile(lags, 50), lagP95Min: percentile(lags, 95), lagMaxMin: lags.length ? Math.max(...lags) : 0,
    };
  });
}

/** Re-read request cost per day for this tenant, from the measured re-reads per settle bucket and level. */
function rereadCost(run: VirtualRun, sc: VirtualScenario) {
  const live = run.byKind.live ?? { requests: 0, rows: 0, slices: 0 };
  const liveMs = run.endedAt - run.startedAt;
  const livePerDay = (live.requests * DAY) / liveMs;
  const levels = run.rereads.map((r) => ({ ...r, requestsPerBucket: r.slices ? r.requests / r.slices : 0 }));
  // 1-hour buckets: 24 a day at each level; a level not yet reached in the run uses the last measured level's cost per bucket.
  const perBucketLast = levels.length ? levels[levels.length - 1]!.requestsPerBucket : 0;
  const ages = 3;
  const perDay = Array.from({ length: ages }, (_, i) => 24 * (levels[i]?.requestsPerBucket ?? perBucketLast)).reduce((a, b) => a + b, 0);
  return { rowsPerDay: sc.rowsPerDay, levels, measuredRescanRequests: run.byKind.rescan?.requests ?? 0, liveRequestsPerDay: livePerDay, rereadRequestsPerDay: perDay, shareOfLive: livePerDay ? perDay / livePerDay : 0 };
}

/** Scenario e's figures: what detail enrichment did, and live lag with details on (t0) vs off (t1). */
function detailFigures(run: VirtualRun, sc: VirtualScenario) {
  if (!run.details) return undefined;
  const days = (run.endedAt - run.startedAt) / DAY;
  const windows = (run.endedAt - run.startedAt) / WINDOW_MS;
  const steady = run.samples.filter((s) => s.tMin >= 10);
  const lagOf = (i: number) => steady.map((s) => s.lagsMin[i]!).filter((x) => Number.isFinite(x));
  return run.details.on.map((d) => {
    const i = Number(d.source.slice(1));
    const control = sc.tenants > 1 ? (i === 0 ? 1 : 0) : undefined;
    return {
      source: d.source,
      qualifyingRows: d.qualifying, qualifyingPerDay: d.qualifying / days,
      detailRequests: d.requests, detailRequestsPerDay: d.requests / days,
      budgetShare: d.requests / (run.allowedPerWindow * windows),
      done: d.done, skippedCap: d.skippedCap, skippedRetention: d.skippedRetention, parked: d.parked, pendingAtEnd: d.pending,
      delayP50Min: percentile(d.delaysSec, 50) / 60, delayP95Min: percentile(d.delaysSec, 95) / 60, delayMaxMin: d.delaysSec.length ? Math.max(...d.delaysSec) / 60 : NaN,
      lagOnP50Min: percentile(lagOf(i), 50), lagOnP95Min: percentile(lagOf(i), 95),
      ...(control !== undefined ? { lagOffP50Min: percentile(lagOf(control), 50), lagOffP95Min: percentile(lagOf(control), 95) } : {}),
      waitedForDetail: d.waitedForDetail, controlWaitedForDetail: run.details!.offWaitedForDetail,
      backlog: d.backlog,
      budgetPerDay: run.allowedPerWindow * (DAY / WINDOW_MS),
    };
  });
}

/** Runs the chosen scenarios and prints their figures (`mtc bench`). */
export async function runBench(args: BenchArgs): Promise<void> {
  fs.mkdirSync(args.out, { recursive: true });
  let pageCost: PageCostResult | undefined;
  if (args.pageCost) {
    pageCost = await runPageCost(9);
    console.log(`page cost (${pageCost.rowsPerPage} rows, ${(pageCost.pageBytes / 1e6).toFixed(1)} MB, median of ${pageCost.runs}):`);
    console.log(`  parse+normalise+serialise+gzip ${pageCost.ours.cpuMsPerPage.toFixed(1)} CPU ms/page = ${Math.round(pageCost.ours.rowsPerSecPerCore)} rows/s per core (target >= 50k)`);
    console.log(`  baseline JSON.parse+stringify  ${pageCost.baseline.cpuMsPerPage.toFixed(1)} CPU ms/page = ${Math.round(pageCost.baseline.rowsPerSecPerCore)} rows/s per core`);
    fs.writeFileSync(path.join(args.out, 'page-cost.json'), JSON.stringify(pageCost, null, 2));
  }
  const azurite = await startAzurite({});
  // A scenario that delivered an event twice (no process dies in the benchmark) fails the command once every figure is printed.
  const repeatedRuns: string[] = [];
  try {
    for (const id of args.scenarios) {
      const { title, sc } = scenario(id, args);
      console.log(`\nscenario ${title}${args.quick ? ' (quick)' : ''}`);
      const log = (m: string) => console.log(`    ${m}`);
      let meter: StorageMeter | undefined;
      if (args.usage) meter = await startStorageMeter(azurite.connectionString);
      const ours = await runOurs(sc, meter?.connectionString ?? azurite.connectionString, log, meter);
      await meter?.close();
      const o = oursFigures(ours, sc);
      console.log(`  ours     rows ${o.rows}  requests ${o.requests}  rows/request ${r1(o.rowsPerRequest, 0)} (live ${r1(o.liveRowsPerRequest, 0)}, backfill = full windows ${r1(o.backfillRowsPerRequest, 0)})  slots ${o.slots}`);
      console.log(`           budget utilisation ${r1(o.budgetUtilisation * 100)}%  429s ${o.throttled429}  errors ${o.errors}  outcomes ${JSON.stringify(o.outcomes)}`);
      console.log(`           events delivered twice ${ours.repeatedEvents} (of ${ours.checkedEvents} checked by id${ours.checkedEvents < o.rows ? `; the first ${REPEAT_CHECK_MAX} are checked` : ''})`);
      if (ours.repeatedEvents > 0) repeatedRuns.push(`scenario ${title}: ${ours.repeatedEvents} event(s) delivered twice`);
      console.log(`           wall ${r1(o.wallMin)} sim-min vs theoretical ${r1(o.theoreticalMin)} (x${r1(o.wallOverTheoretical, 2)})  lag p50 ${r1(o.lagP50Min)} / p95 ${r1(o.lagP95Min)} / max ${r1(o.lagMaxMin)} min ${o.lagScope} (target ${o.lagTargetMin})`);
      console.log(`           CPU ${r1(o.cpuMsPer1000Rows, 2)} ms per 1000 rows (whole process: collector, in-process simulator, receiver)  peak RSS ${r1(o.peakRssMB, 0)} MB  real ${r1(o.realSeconds)} s  longest planner tick ${r1(o.longestPlannerTickMin, 2)} sim-min`);
      console.log(`           configuration: ${sc.tenants} sources checked in ${r1(ours.configParseCpuMs, 0)} ms of process CPU (once per process, at its cold start)`);
      if (!meter && ours.plannerSteps?.length) {
        // Without --usage no counting proxy stands in front of the planner: its real time and CPU are its own and Azurite's answers.
        const first = ours.plannerSteps.filter((t) => t.tMin < 1).sort((a, b) => b.realMs - a.realMs)[0];
        const steady = ours.plannerSteps.filter((t) => t.tMin >= 10).sort((a, b) => b.realMs - a.realMs)[0];
        for (const [label, t] of [['first planning step (every source new)', first], ['longest planning step from minute 10', steady]] as const) {
          if (t) console.log(`           ${label} (+${r1(t.tMin, 0)} sim-min), no counting proxy: ${r1(t.realMs, 0)} ms real against local Azurite, process CPU ${r1(t.cpuMs, 0)} ms`);
        }
      }
      const u = ours.usage;
      console.log(`  usage    executions: ${u.plannerExecutions} planner + ${u.pageJobExecutions} page-job executions (${u.pageJobs ?? u.pageJobExecutions} page jobs; ${u.batchMessages ?? 0} page batches of ${u.batchedJobs ?? 0} jobs)  active: planner ${r1(u.plannerActiveMs / 1000, 0)} s, page-job instances ${r1(u.pageJobInstanceMs / 1000, 0)} s (sum of executions ${r1(u.pageJobExecutionMs / 1000, 0)} s, ${u.perInstanceConcurrency} per instance)`);
      console.log(`           telemetry: ${u.telemetry.metricRecords} metric records ${r1(u.telemetry.metricBytes / 1e6, 2)} MB, ${u.telemetry.eventRecords} events ${r1(u.telemetry.eventBytes / 1e6, 2)} MB  Graph requests ${u.graphRequests}  destination requests ${u.destinationRequests}  bytes delivered ${r1(ours.bytesDelivered / 1e6, 1)} MB`);
      if (u.storage) console.log(`           storage: ${Object.entries(u.storage).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
      const planner = plannerFigures(ours);
      if (planner) {
        console.log(`  planner  table entities read per source per run, mean by simulated hour: ${planner.byHour.map((h) => `h${h.hour + 1} ${r1(h.entitiesPerSource)}`).join(', ')}`);
        console.log(`           last hour / first hour x${r1(planner.lastOverFirst, 2)}; queries filtering a non-key property ${planner.nonKeyQueries}; longest planning step ${r1(ours.longestPlannerTickRealMs, 0)} ms real (p95 ${r1(planner.realMsP95, 0)} ms)`);
        type Step = { tMin: number; requests: number; cpuMs: number; realMs: number; concurrency: number; onAzureMs: number; byResource?: Record<string, number> };
        const steps = planner as { first?: Step; busiest?: Step };
        for (const [label, b] of [['first planning step (every source new)', steps.first], ['busiest planning step from minute 10', steps.busiest]] as const) {
          if (!b) continue;
          console.log(`           ${label} (+${r1(b.tMin, 0)} sim-min): ${b.requests} storage requests, ${r1(b.realMs, 0)} ms real here, process CPU ${r1(b.cpuMs, 0)} ms; alone on its instance with ${STORAGE_ROUND_TRIP_MS} ms a round trip, ${b.concurrency} sources at a time: about ${r1(b.onAzureMs, 0)} ms (CPU + requests x ${STORAGE_ROUND_TRIP_MS} ms / ${b.concurrency})`);
          if (b.byResource) console.log(`             per source by operation and resource: ${Object.entries(b.byResource).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${r1(n / sc.tenants, 2)}`).join('; ')}`);
        }
      }
      const volumes = volumeFigures(ours);
      for (const v of volumes) console.log(`  tenant   ${v.rowsPerDay} rows/day (${v.tenants}): ${r1(v.requestsPerDay, 0)} requests/day, ${r1(v.jobsPerDay, 0)} page jobs/day, lag p50 ${r1(v.lagP50Min)} / p95 ${r1(v.lagP95Min)} / max ${r1(v.lagMaxMin)} min`);
      let costs: { tenants: number; daily: ReturnType<typeof dailyUsage>; monthly: ReturnType<typeof monthlyCost> }[] | undefined;
      if (u.storage) {
        const run = { tenants: sc.tenants, durationMs: ours.endedAt - ours.startedAt, bytesDelivered: ours.bytesDelivered };
        costs = [1, 20, 200].map((tenants) => {
          const daily = dailyUsage(u, run, tenants);
          return { tenants, daily, monthly: monthlyCost(daily) };
        });
        for (const c of costs) {
          const d = c.daily;
          const m = c.monthly;
          console.log(`  cost     ${c.tenants} x ${sc.rowsPerDay} rows/day: $${m.total.toFixed(2)}/month = functions $${m.functions.toFixed(2)} (${r1(d.executions * 30 / 1e6, 2)}M executions, ${r1(d.gbSeconds * 30 / 1e3, 0)}k GB-s) + storage $${m.storage.toFixed(2)} (table ${r1(d.table * 30 / 1e6, 2)}M, queue ${r1((d.queueClass1 + d.queueClass2) * 30 / 1e6, 2)}M, blob ${r1((d.blobWrites + d.blobReads) * 30 / 1e6, 2)}M) + telemetry $${m.telemetry.toFixed(2)} (${r1(d.telemetryBytes * 30 / 1e9, 2)} GB) + storage diagnostics $${m.diagnostics.toFixed(2)} (${r1(d.storageLogBytes * 30 / 1e9, 2)} GB) + Key Vault $${m.keyVault.toFixed(2)} + egress $${m.egress.toFixed(2)} (${r1(d.egressBytes * 30 / 1e9, 1)} GB)`);
        }
      }
      if (u.storage) {
        const run = { tenants: sc.tenants, durationMs: ours.endedAt - ours.startedAt, bytesDelivered: ours.bytesDelivered };
        const pt = perTenantCost(u, run, 1000);
        console.log(`  per tenant  $${pt.marginal.toFixed(2)}/month for one more tenant of this ${sc.mix ? 'mix (mean)' : `volume (${sc.rowsPerDay} rows/day)`} in a deployment of 1000; deployment-wide fixed $${pt.fixed.toFixed(2)}/month`);
        const c = pt.components;
        console.log(`           of which functions $${c.functions.toFixed(2)}, storage transactions $${c.storage.toFixed(2)}, telemetry $${c.telemetry.toFixed(2)}, storage diagnostics $${c.diagnostics.toFixed(2)} (infra parameters diagnosticSettings, storageLogsCollectorRequests), Key Vault $${c.keyVault.toFixed(2)}, egress $${c.egress.toFixed(2)} (a destination outside Azure)`);
        const small = perTenantCost(u, run, 1000, 512);
        console.log(`           with 512 MB instances (infra parameter instanceMemoryMB=512, not the default: not measured on a Functions host): $${small.marginal.toFixed(2)}/month, of which functions $${small.components.functions.toFixed(2)}`);
        const allLogs = perTenantCost(u, run, 1000, 2048, { collectorRequests: true });
        console.log(`           with the collector's own storage log records kept (infra parameter storageLogsCollectorRequests=true; by default a workspace transformation drops them): $${allLogs.marginal.toFixed(2)}/month, of which storage diagnostics $${allLogs.components.diagnostics.toFixed(2)}`);
        console.log(`           storage operations per page job ${r1(pt.storageOpsPerPage, 1)} (collector's, planner included; the host's receives excluded); telemetry ${r1(pt.telemetryBytesPerPage, 0)} bytes per page job (everything ingested / page jobs, at 1000 tenants; traces sampled at ${u.traceSampling ?? 1})`);
        if (u.storageByResource && u.pageJobExecutions) {
          // Where the operations go (the scheduler's own receives, peeks and lag samples left out, as in the totals).
          const top = Object.entries(u.storageByResource).sort((a, b) => b[1] - a[1]).slice(0, 24);
          const jobs = u.pageJobs ?? u.pageJobExecutions;
          console.log(`           storage operations per page job by operation and resource: ${top.map(([k, n]) => `${k} ${r1(n / jobs, 2)}`).join('; ')}`);
        }
        if (u.telemetry.metricRecordsByName && u.pageJobExecutions) {
          const jobs = u.pageJobs ?? u.pageJobExecutions;
          const by = Object.entries(u.telemetry.metricRecordsByName).sort((a, b) => b[1] - a[1]);
          console.log(`           metric records per page job by metric (one record per series and export interval): ${by.map(([k, n]) => `${k} ${r1(n / jobs, 2)}`).join('; ')}`);
        }
        (ours as VirtualRun & { perTenant?: typeof pt }).perTenant = pt;
      }
      let reread: ReturnType<typeof rereadCost> | undefined;
      if (sc.settle) {
        reread = rereadCost(ours, sc);
        console.log(`  reconciliation: measured re-reads ${reread.levels.map((l) => `R${l.level}: ${l.slices} buckets, ${l.requests} requests (${r1(l.requestsPerBucket, 2)}/bucket)`).join('; ') || 'none'}`);
        console.log(`           => ${r1(reread.rereadRequestsPerDay, 0)} re-read requests/day for a ${sc.rowsPerDay} rows/day tenant = ${r1(reread.shareOfLive * 100)}% of live requests (${r1(reread.liveRequestsPerDay, 0)}/day)`);
      }
      const det = detailFigures(ours, sc);
      for (const d of det ?? []) {
        console.log(`  details  ${d.source}: ${d.qualifyingRows} qualifying rows (${r1(d.qualifyingPerDay, 0)}/day; the budget allows ${d.budgetPerDay} requests/day in all)  detail requests ${d.detailRequests} = ${r1(d.detailRequestsPerDay, 0)}/day = ${r1(d.budgetShare * 100)}% of the budget`);
        console.log(`           done ${d.done}, skipped by the cap ${d.skippedCap}, by retention ${d.skippedRetention}, parked ${d.parked}, still pending at the end ${d.pendingAtEnd}`);
        console.log(`           collection -> detail events p50 ${r1(d.delayP50Min)} / p95 ${r1(d.delayP95Min)} / max ${r1(d.delayMaxMin)} min`);
        console.log(`           live lag with details on p50 ${r1(d.lagOnP50Min)} / p95 ${r1(d.lagOnP95Min)} min; off (the other tenant, same run) p50 ${r1(d.lagOffP50Min ?? NaN)} / p95 ${r1(d.lagOffP95Min ?? NaN)} min`);
        console.log(`           requests that waited because of a detail grant: ${d.waitedForDetail} (the tenant without details: ${d.controlWaitedForDetail.join(', ')})`);
        console.log(`           backlog (pending detail records) every 15 sim-min: ${d.backlog.map((b) => `${r1(b.tMin / 60, 2)}h ${b.pending}`).join(', ')}`);
      }
      let b: ReturnType<typeof baselineFigures> | undefined;
      let baseRun: BaselineRun | undefined;
      if (args.baseline) {
        baseRun = await runBaseline(sc, log);
        b = baselineFigures(baseRun, sc);
        console.log(`  baseline rows ${b.rows}  requests ${b.requests}  rows/request ${r1(b.rowsPerRequest, 0)} (backfill ${r1(b.backfillRowsPerRequest, 0)})  slots 1`);
        console.log(`           budget utilisation ${r1(b.budgetUtilisation * 100)}%  429s ${b.throttled429}  wall ${r1(b.wallMin)} sim-min${sc.backfillMs ? ` to caught up (backfill range alone ${r1(b.wallRangeOnlyMin)})` : ''}  lag p50 ${r1(b.lagP50Min)} / p95 ${r1(b.lagP95Min)} min`);
        console.log(`           CPU ${r1(b.cpuMsPer1000Rows, 2)} ms per 1000 rows  peak RSS ${r1(b.peakRssMB, 0)} MB  real ${r1(b.realSeconds)} s`);
      }
      const div = (x: number, y: number) => (y ? x / y : NaN);
      const ratios = b ? {
        rowsPerRequest: div(o.rowsPerRequest, b.rowsPerRequest),
        backfillRowsPerRequest: div(o.backfillRowsPerRequest, b.backfillRowsPerRequest),
        budgetUtilisation: div(o.budgetUtilisation, b.budgetUtilisation),
        // Both from the start of the run (ours includes the minutes before the backfill was started),
        // to the same work done: the backfill range and every live row up to the live edge.
        speedup: sc.backfillMs ? div(b.wallMin * MIN, (ours.backfill?.doneAt ?? ours.endedAt) - ours.startedAt) : NaN,
        // The baseline only to the end of its backfill range (its last ~wall minutes of live rows still uncollected).
        speedupRangeOnly: sc.backfillMs ? div(b.wallRangeOnlyMin * MIN, (ours.backfill?.doneAt ?? ours.endedAt) - ours.startedAt) : NaN,
        lagP95: div(o.lagP95Min, b.lagP95Min),
        cpuPer1000Rows: div(o.cpuMsPer1000Rows, b.cpuMsPer1000Rows),
      } : undefined;
      if (ratios) console.log(`  ours/baseline: rows/request x${r1(ratios.rowsPerRequest, 2)}  budget use x${r1(ratios.budgetUtilisation, 2)}  backfill speed x${r1(ratios.speedup, 2)} (baseline wall to caught up / ours; to the end of its range alone x${r1(ratios.speedupRangeOnly, 2)})  lag p95 x${r1(ratios.lagP95, 2)}  CPU/1000 rows x${r1(ratios.cpuPer1000Rows, 2)}`);
      const result = {
        scenario: id, title, quick: args.quick, scenarioConfig: sc,
        method: 'virtual time: real planSource + processPageJob + TenantBudget + ledger + queue on Azurite, in-process simulator on a ManualClock; the clock jumps only when every actor waits on a clock sleep',
        theoreticalMinFormula: 'ceil(backfill rows / 5000) requests at 90 per 5 minutes: minutes = ceil(rows / 5000) x 5 / 90',
        ours: o, details: det, usage: ours.usage, planner: plannerFigures(ours), volumes, perTenant: (ours as VirtualRun & { perTenant?: unknown }).perTenant, costs, prices: costs ? PRICES : undefined, reconciliation: reread, baseline: b, ratios, pageCost,
        samples: { ours: ours.samples, baseline: baseRun?.samples },
      };
      fs.writeFileSync(path.join(args.out, `${id}.json`), JSON.stringify(result, null, 2));
      const series = [{ name: 'ours (real pipeline)', color: '#1f77b4', samples: ours.samples }, ...(baseRun ? [{ name: 'baseline (peers)', color: '#d62728', samples: baseRun.samples }] : [])];
      const svg = chartSvg(title, series);
      fs.writeFileSync(path.join(args.out, `${id}.svg`), svg);
      fs.writeFileSync(path.join(args.out, `example-${id}.svg`), svg);
      console.log(`  wrote ${path.join(args.out, `${id}.json`)}, ${id}.svg and example-${id}.svg`);
    }
    if (repeatedRuns.length) throw new Error(`the collector delivered events twice (${repeatedRuns.join('; ')}): with no process killed, every event must arrive once (ARCHITECTURE invariant 2)`);
  } finally {
    await azurite.stop();
  }
}

if (require.main === module) {
  // `node dist/bench/run.js [options]` is `mtc bench [options]`: one declaration of the options.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { main } = require('../cli/mtc') as typeof import('../cli/mtc');
  main(['bench', ...process.argv.slice(2)]).then((code) => process.exit(code), (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  });
}
