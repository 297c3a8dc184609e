/**
 * The cost of one page (issue 5, item 4): parse (the Graph client's validation), normalise,
 * serialise and gzip a 5000-row page; against a baseline of plain JSON.parse + JSON.stringify.
 * Medians of several runs, CPU time of this process (single-threaded except gzip's thread pool,
 * which process.cpuUsage also counts), so "rows/s per core" = rows / CPU seconds.
 */
import { parseGraphResponse } from '../shared/api/graph/client';
import { startSimulator } from '../simulator';
import { ManualClock } from '../shared/time/clock';
import { processPage } from './process-page';

export interface PageCostResult {
  rowsPerPage: number;
  pageBytes: number;
  runs: number;
  ours: { msPerPage: number; cpuMsPerPage: number; rowsPerSecPerCore: number };
  baseline: { msPerPage: number; cpuMsPerPage: number; rowsPerSecPerCore: number };
  /** ours cpu ms per page over the baseline's (how much more the full path costs). */
  costRatio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measure(runs: number, fn: () => Promise<void> | void): Promise<{ ms: number; cpuMs: number }> {
  await fn(); // warm-up
  await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

/** A real 5000-row Graph page body from the simulator (1M rows/day tenant). */
export async function samplePage(rows = 5000): Promise<{ body: string; tenantId: string; startMs: number; endMs: number }> {
  const t0 = Date.UTC(2026, 10, 20, 12, 0, 0);
  const sim = await startSimulator({ clock: new ManualClock(t0), seed: 3, tenants: [{ rowsPerDay: 1_000_000 }] });
  try {
    const tenantId = sim.tenants[0]!.tenantId;
    const startMs = t0 - 3 * 3_600_000;
    const endMs = t0 - 3_600_000;
    const value = sim.groundTruth(tenantId, startMs, endMs).slice(0, rows);
    return { body: JSON.stringify({ '@odata.context': `${sim.baseUrl}/v1.0/$metadata#admin/exchange/tracing/messageTraces`, value }), tenantId, startMs, endMs };
  } finally {
    await sim.stop();
  }
}

export async function runPageCost(runs = 9): Promise<PageCostResult> {
  const page = await samplePage();
  const collectedAt = new Date().toISOString();
  let rowsPerPage = 0;
  const ours = await measure(runs, async () => {
    const parsed = parseGraphResponse(200, {}, page.body, false);
    rowsPerPage = parsed.rows.length;
    await processPage({ tenantId: page.tenantId, sourceId: 'bench', rows: parsed.rows, startMs: page.startMs, endMs: page.endMs, collectedAt });
  });
  const baseline = await measure(runs, () => {
    const parsed = JSON.parse(page.body) as { value: unknown[] };
    JSON.stringify(parsed.value);
  });
  const rate = (cpuMs: number) => (cpuMs > 0 ? (rowsPerPage / cpuMs) * 1000 : Infinity);
  return {
    rowsPerPage,
    pageBytes: Buffer.byteLength(page.body),
    runs,
    ours: { msPerPage: ours.ms, cpuMsPerPage: ours.cpuMs, rowsPerSecPerCore: rate(ours.cpuMs) },
    baseline: { msPerPage: baseline.ms, cpuMsPerPage: baseline.cpuMs, rowsPerSecPerCore: rate(baseline.cpuMs) },
    costRatio: baseline.cpuMs > 0 ? ours.cpuMs / baseline.cpuMs : Infinity,
  };
}
