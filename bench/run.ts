/**
 * `npm run bench [-- --scenario a|b|c[,..]] [--quick] [--factor n] [--baseline-factor n]
 *  [--latency-ms n] [--no-baseline] [--no-page-cost] [--out dir]`
 *
 * Scenarios (simulator in a child process, accelerated clock, Azurite for the budget):
 *   a  live steady state, one tenant of 1M rows/day
 *   b  a 10-day backfill of that tenant (10M rows) while live collection continues
 *   c  20 tenants of 100k rows/day in one deployment, each catching up one day
 * Each runs "ours" and the peer-like baseline, prints the figures and the ratios, and writes
 * bench/results/<scenario>.json and <scenario>.svg. Not part of the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TableClient } from '@azure/data-tables';
import { startAzurite, uniqueName, type RunningAzurite } from '../local/azurite';
import { TenantBudget } from '../shared/budget';
import { AcceleratedClock } from '../shared/time/clock';
import { BaselineCollector } from './baseline';
import { OursCollector, type TenantSetup } from './ours';
import { runPageCost, type PageCostResult } from './page-cost';
import { percentile, Recorder } from './recorder';
import { startRemoteSimulator } from './sim-client';
import { chartSvg } from './svg';

const MIN = 60_000;
const DAY = 1440 * MIN;
const PAGE_SIZE = 5000;
const WINDOW_MS = 300_000;
const LIMIT = 100;
const POLL_MS = MIN;
const DELAY_MS = 5 * MIN;

interface Scenario {
  id: 'a' | 'b' | 'c';
  title: string;
  tenants: number;
  rowsPerDay: number;
  backfillMs: number;
  /** a: simulated run length; b, c: how long to keep going after the backfill is done. */
  steadyMs: number;
  oursFactor: number;
  baselineFactor: number;
}

function scenarios(quick: boolean): Scenario[] {
  return [
    { id: 'a', title: 'a: live steady state, 1 tenant of 1M rows/day', tenants: 1, rowsPerDay: 1_000_000, backfillMs: 0, steadyMs: (quick ? 30 : 120) * MIN, oursFactor: 60, baselineFactor: 60 },
    { id: 'b', title: `b: ${quick ? '1-day' : '10-day'} backfill of a 1M rows/day tenant while live continues`, tenants: 1, rowsPerDay: 1_000_000, backfillMs: (quick ? 1 : 10) * DAY, steadyMs: 10 * MIN, oursFactor: 15, baselineFactor: 40 },
    { id: 'c', title: `c: 20 tenants of 100k rows/day, each catching up ${quick ? '2 hours' : '1 day'}`, tenants: 20, rowsPerDay: 100_000, backfillMs: quick ? 2 * 60 * MIN : DAY, steadyMs: 15 * MIN, oursFactor: 20, baselineFactor: 60 },
  ];
}

interface Args { scenarios: string[]; quick: boolean; factor?: number; baselineFactor?: number; latencyMs: number; baseline: boolean; pageCost: boolean; out: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { scenarios: ['a', 'b', 'c'], quick: false, latencyMs: 3000, baseline: true, pageCost: true, out: path.resolve(__dirname, '..', '..', 'bench', 'results') };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${flag} needs a positive number, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--scenario') {
      const v = argv[++i] ?? '';
      const list = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
      if (!list.length || list.some((s) => !['a', 'b', 'c'].includes(s))) throw new Error(`--scenario takes a, b or c (or a list such as a,c), got '${v}'`);
      a.scenarios = list;
    } else if (f === '--quick') a.quick = true;
    else if (f === '--factor') a.factor = num(f, argv[++i]);
    else if (f === '--baseline-factor') a.baselineFactor = num(f, argv[++i]);
    else if (f === '--latency-ms') a.latencyMs = num(f, argv[++i]);
    else if (f === '--no-baseline') a.baseline = false;
    else if (f === '--no-page-cost') a.pageCost = false;
    else if (f === '--out') a.out = path.resolve(argv[++i] ?? '');
    else if (f === '--help' || f === '-h') {
      console.log('npm run bench -- [--scenario a|b|c[,...]] [--quick] [--factor n] [--baseline-factor n] [--latency-ms n] [--no-baseline] [--no-page-cost] [--out dir]');
      process.exit(0);
    } else throw new Error(`Unknown option ${f}; run with --help`);
  }
  return a;
}

export interface CollectorFigures {
  collector: 'ours' | 'baseline';
  factor: number;
  slots: number;
  rows: number;
  requests: number;
  rowsPerRequest: number;
  /** Backfill (full windows) only. */
  backfillRows: number;
  backfillRequests: number;
  backfillRowsPerRequest: number;
  /** Requests sent over the requests the budget allowed (allowed x tenants x windows) in the measured period. */
  budgetUtilisation: number;
  throttled429: number;
  budgetRefusals: number;
  errors: number;
  /** b, c: simulated minutes until the backfill finished; a: the run length. */
  wallMin: number;
  theoreticalMin: number;
  wallOverTheoretical: number;
  lagP50Min: number;
  lagP95Min: number;
  lagScope: string;
  cpuMsPer1000Rows: number;
  peakRssMB: number;
  realSeconds: number;
  /** Share of one core this process used (CPU ms / real ms): above ~0.9 the clock factor is too high. */
  cpuBusy: number;
}

async function runCollector(kind: 'ours' | 'baseline', sc: Scenario, args: Args, azurite: RunningAzurite): Promise<{ figures: CollectorFigures; samples: Recorder['samples'] }> {
  const factor = kind === 'ours' ? (args.factor ?? sc.oursFactor) : (args.baselineFactor ?? sc.baselineFactor);
  const wallAtStart = Date.now();
  const clock = new AcceleratedClock(Date.UTC(2026, 2, 20, 12, 0, 0), factor);
  const sim = await startRemoteSimulator(clock, wallAtStart, {
    seed: 11,
    tokenLifetimeSec: 86_400,
    latency: { meanMs: args.latencyMs, jitterMs: args.latencyMs / 6 },
    throttle: { limit: LIMIT, windowMs: WINDOW_MS },
    tenants: Array.from({ length: sc.tenants }, () => ({ rowsPerDay: sc.rowsPerDay, traffic: { visibilityDelay: { minMs: 0, maxMs: 4 * MIN, distribution: 'uniform' as const } } })),
  });
  const startedAt = clock.now();
  const liveStart = Math.floor((startedAt - DELAY_MS) / 1000) * 1000;
  const tenants: TenantSetup[] = sim.tenants.map((t) => ({
    ...t,
    ...(sc.backfillMs ? { backfill: { startMs: liveStart - sc.backfillMs, endMs: liveStart } } : {}),
  }));
  const recorder = new Recorder(clock, startedAt);
  const table = TableClient.fromConnectionString(azurite.connectionString, uniqueName('benchbudget'), { allowInsecureConnection: true });
  await table.createTable();
  const budget = new TenantBudget(table, clock, { limit: LIMIT, windowMs: WINDOW_MS });
  const allowed = budget.options.allowed;
  const collector = kind === 'ours'
    ? new OursCollector({ clock, baseUrl: sim.baseUrl, budget, tenants, recorder, pageSize: PAGE_SIZE, pollIntervalMs: POLL_MS, collectionDelayMs: DELAY_MS, expectedLatencyMs: args.latencyMs, pageOverheadMs: 300 })
    : new BaselineCollector({ clock, baseUrl: sim.baseUrl, tenants, recorder, collectionDelayMs: DELAY_MS, pollIntervalMs: POLL_MS });
  const realStart = performance.now();
  recorder.resetCpu();
  const running = collector.start();
  const hasBackfill = sc.backfillMs > 0;
  // Sample every 30 s of clock time; stop when the scenario is over.
  let backfillDoneAt: number | undefined;
  let requestsAtBackfillDone = 0;
  while (true) {
    await clock.sleep(30_000);
    const duringBackfill = hasBackfill && collector.backfillRunning();
    recorder.sample(collector.lagsMs(), allowed * sc.tenants, WINDOW_MS, duringBackfill);
    const now = clock.now();
    if (hasBackfill && backfillDoneAt === undefined && !collector.backfillRunning()) {
      backfillDoneAt = collector.backfillFinishedAt() ?? now;
      requestsAtBackfillDone = recorder.requestTimes.filter((t) => t <= backfillDoneAt!).length;
    }
    if (!hasBackfill && now - startedAt >= sc.steadyMs) break;
    if (backfillDoneAt !== undefined && now - backfillDoneAt >= sc.steadyMs) break;
  }
  collector.stop();
  await running.catch(() => undefined);
  const realSeconds = (performance.now() - realStart) / 1000;
  const cpuMs = recorder.cpuMs();
  const stats = await sim.stats();
  await sim.stop();
  await table.deleteTable().catch(() => undefined);

  const endAt = clock.now();
  const measuredEnd = backfillDoneAt ?? endAt;
  const measuredMs = measuredEnd - startedAt;
  const requestsMeasured = hasBackfill ? requestsAtBackfillDone : recorder.requests;
  const allowedInPeriod = (allowed * sc.tenants * measuredMs) / WINDOW_MS;
  // Theoretical minimum: the backfill's rows in full pages at the budget rate (allowed per window), per tenant in parallel.
  const pagesPerTenant = Math.ceil(recorder.backfillRows / sc.tenants / PAGE_SIZE);
  const theoreticalMin = hasBackfill ? (pagesPerTenant * WINDOW_MS) / allowed / MIN : sc.steadyMs / MIN;
  const lagScope = hasBackfill ? 'during the backfill' : 'steady state (after the first 10 minutes)';
  const lags = recorder.lagSamples
    .filter((s) => (hasBackfill ? s.duringBackfill : s.at - startedAt >= 10 * MIN))
    .map((s) => s.lagMs / MIN);
  const throttled = Object.values(stats).reduce((a, s) => a + s.throttled, 0);
  const figures: CollectorFigures = {
    collector: kind,
    factor,
    slots: collector.slots,
    rows: recorder.rows,
    requests: recorder.requests,
    rowsPerRequest: recorder.requests ? recorder.rows / recorder.requests : 0,
    backfillRows: recorder.backfillRows,
    backfillRequests: recorder.backfillRequests,
    backfillRowsPerRequest: recorder.backfillRequests ? recorder.backfillRows / recorder.backfillRequests : 0,
    budgetUtilisation: allowedInPeriod ? requestsMeasured / allowedInPeriod : 0,
    throttled429: Math.max(throttled, recorder.throttled),
    budgetRefusals: recorder.refusals,
    errors: recorder.errors,
    wallMin: measuredMs / MIN,
    theoreticalMin,
    wallOverTheoretical: theoreticalMin ? measuredMs / MIN / theoreticalMin : 0,
    lagP50Min: percentile(lags, 50),
    lagP95Min: percentile(lags, 95),
    lagScope,
    cpuMsPer1000Rows: recorder.rows ? (cpuMs / recorder.rows) * 1000 : 0,
    peakRssMB: recorder.peakRss / 1024 / 1024,
    realSeconds,
    cpuBusy: cpuMs / (realSeconds * 1000),
  };
  return { figures, samples: recorder.samples };
}

function printFigures(f: CollectorFigures): void {
  const r = (n: number, d = 1) => n.toFixed(d);
  console.log(`  ${f.collector.padEnd(8)} rows ${f.rows}  requests ${f.requests}  rows/request ${r(f.rowsPerRequest, 0)} (backfill ${r(f.backfillRowsPerRequest, 0)})`);
  console.log(`           budget utilisation ${r(f.budgetUtilisation * 100)}%  429s ${f.throttled429}  budget refusals ${f.budgetRefusals}  errors ${f.errors}  slots ${f.slots}`);
  console.log(`           wall ${r(f.wallMin)} sim-min vs theoretical ${r(f.theoreticalMin)} (x${r(f.wallOverTheoretical, 2)})  lag p50 ${r(f.lagP50Min)} / p95 ${r(f.lagP95Min)} min ${f.lagScope}`);
  console.log(`           CPU ${r(f.cpuMsPer1000Rows, 2)} ms per 1000 rows  peak RSS ${r(f.peakRssMB, 0)} MB  real ${r(f.realSeconds)} s at x${f.factor} (CPU busy ${r(f.cpuBusy * 100, 0)}%)`);
}

function ratios(ours: CollectorFigures, base: CollectorFigures): Record<string, number> {
  const div = (a: number, b: number) => (b ? a / b : 0);
  return {
    rowsPerRequest: div(ours.rowsPerRequest, base.rowsPerRequest),
    budgetUtilisation: div(ours.budgetUtilisation, base.budgetUtilisation),
    /** baseline wall time over ours: how many times faster ours finished. */
    speedup: div(base.wallMin, ours.wallMin),
    lagP95: div(ours.lagP95Min, base.lagP95Min),
    cpuPer1000Rows: div(ours.cpuMsPer1000Rows, base.cpuMsPer1000Rows),
    peakRss: div(ours.peakRssMB, base.peakRssMB),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.out, { recursive: true });
  let pageCost: PageCostResult | undefined;
  if (args.pageCost) {
    pageCost = await runPageCost(9);
    console.log(`page cost (${pageCost.rowsPerPage} rows, ${(pageCost.pageBytes / 1e6).toFixed(1)} MB, median of ${pageCost.runs}):`);
    console.log(`  parse+normalise+serialise+gzip ${pageCost.ours.cpuMsPerPage.toFixed(1)} CPU ms/page = ${Math.round(pageCost.ours.rowsPerSecPerCore)} rows/s per core`);
    console.log(`  baseline JSON.parse+stringify  ${pageCost.baseline.cpuMsPerPage.toFixed(1)} CPU ms/page = ${Math.round(pageCost.baseline.rowsPerSecPerCore)} rows/s per core (ours costs x${pageCost.costRatio.toFixed(1)})`);
    fs.writeFileSync(path.join(args.out, 'page-cost.json'), JSON.stringify(pageCost, null, 2));
  }
  const azurite = await startAzurite({});
  try {
    for (const sc of scenarios(args.quick).filter((s) => args.scenarios.includes(s.id))) {
      console.log(`\nscenario ${sc.title}${args.quick ? ' (quick)' : ''}`);
      const ours = await runCollector('ours', sc, args, azurite);
      printFigures(ours.figures);
      let base: Awaited<ReturnType<typeof runCollector>> | undefined;
      if (args.baseline) {
        base = await runCollector('baseline', sc, args, azurite);
        printFigures(base.figures);
      }
      const r = base ? ratios(ours.figures, base.figures) : undefined;
      if (r) {
        console.log(`  ours/baseline: rows/request x${r.rowsPerRequest!.toFixed(2)}  budget use x${r.budgetUtilisation!.toFixed(2)}  speed x${r.speedup!.toFixed(2)} (baseline wall / ours)  lag p95 x${r.lagP95!.toFixed(2)}  CPU/1000 rows x${r.cpuPer1000Rows!.toFixed(2)}  peak RSS x${r.peakRss!.toFixed(2)}`);
      }
      const result = {
        scenario: sc.id, title: sc.title, quick: args.quick, latencyMs: args.latencyMs,
        budget: { limit: LIMIT, windowMs: WINDOW_MS, headroom: 0.1, pageSize: PAGE_SIZE, pollIntervalMs: POLL_MS, collectionDelayMs: DELAY_MS },
        ours: ours.figures, baseline: base?.figures, ratios: r, pageCost,
        samples: { ours: ours.samples, baseline: base?.samples },
      };
      fs.writeFileSync(path.join(args.out, `${sc.id}.json`), JSON.stringify(result, null, 2));
      const xMax = hasWall(ours.figures, base?.figures);
      fs.writeFileSync(path.join(args.out, `${sc.id}.svg`), chartSvg(sc.title, [
        { name: 'ours', color: '#1f77b4', samples: ours.samples },
        ...(base ? [{ name: 'baseline (peers)', color: '#d62728', samples: base.samples }] : []),
      ], xMax));
      console.log(`  wrote ${path.join(args.out, `${sc.id}.json`)} and ${sc.id}.svg`);
    }
  } finally {
    await azurite.stop();
  }
}

function hasWall(ours: CollectorFigures, base?: CollectorFigures): number | undefined {
  const lengths = [ours.wallMin, base?.wallMin ?? 0];
  return Math.max(...lengths) * 1.1 || undefined;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
