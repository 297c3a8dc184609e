/**
 * Issue 19 over a simulated day, through the benchmark's machinery (bench/virtual.ts: the real
 * planner, page worker, budget, ledger and queue on Azurite, the simulator in virtual time, the
 * storage meter counting the table entities the planning step reads):
 *
 * - a quiet tenant (10,000 rows a day) costs about one live request per two poll intervals, and its
 *   lag stays within the collection delay + 2 poll intervals (plus one page's latency);
 * - the planner's entities read per source per run stay flat (within 10%) from hour 1 to hour 14,
 *   with settle re-reads on (+1h, +6h, +12h: every level reached, the half-day the suite can afford;
 *   the benchmark's scenario a shows the same over 26 hours with +24h) and no query by a non-key property.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { runOurs, MIN, HOUR, type VirtualScenario } from '../../bench/virtual';
import { startStorageMeter } from '../../bench/meter';
import { stopTestStorage, testStorage } from '../support/azurite';

after(() => stopTestStorage());

const LATENCY_MS = 3000;

test('a quiet tenant (10,000 rows a day) for 14 simulated hours: one live request per two poll intervals, lag within delay + 2 polls, planner reads flat from hour 1 to hour 14', { timeout: 600_000 }, async () => {
  const connectionString = await testStorage();
  const meter = await startStorageMeter(connectionString);
  const sc: VirtualScenario = {
    tenants: 1, rowsPerDay: 10_000, durationMs: 14 * HOUR, backfillMs: 0, afterBackfillMs: 0,
    latencyMs: LATENCY_MS, collectionDelayMs: 5 * MIN, pollIntervalMs: MIN, settle: true, rereads: ['1h', '6h', '12h'], seed: 19,
  };
  let run;
  try {
    run = await runOurs(sc, meter.connectionString, undefined, meter);
  } finally {
    await meter.close();
  }
  assert.equal(run.errors, 0, JSON.stringify(run.outcomes));
  assert.equal(run.throttled429, 0);

  // Live requests: one per two intervals (a live slice spans two), not one per interval.
  const intervals = sc.durationMs / sc.pollIntervalMs;
  const live = run.byKind.live!;
  console.log(`quiet tenant: ${live.rows} live rows in ${live.requests} live requests over ${intervals} poll intervals (${(live.requests / intervals).toFixed(3)} a poll interval), ${run.requests} Graph requests in all`);
  assert.ok(live.requests >= 0.45 * intervals && live.requests <= 0.55 * intervals, `${live.requests} live requests for ${intervals} poll intervals`);
  // Every row live collection read came in one request per slice (a quiet slice is one page).
  assert.equal(live.requests, live.slices, 'one request per live slice');

  // Lag (now - completedUntil at each planner run) from minute 10: within the target, whose page
  // latency (3 s +- 0.5 s) is the only addition.
  const targetMin = (sc.collectionDelayMs + 2 * sc.pollIntervalMs) / MIN;
  const lags = run.samples.filter((s) => s.tMin >= 10).flatMap((s) => s.lagsMin);
  const maxLag = Math.max(...lags);
  console.log(`quiet tenant: lag max ${maxLag.toFixed(2)} min (target ${targetMin} min) over ${lags.length} planner runs`);
  assert.ok(lags.length > 700);
  assert.ok(maxLag <= targetMin + (1.2 * LATENCY_MS) / MIN, `lag reached ${maxLag.toFixed(2)} min`);

  // Planner entities read per source per run, by simulated hour: flat within 10%.
  const byHour = new Map<number, number[]>();
  for (const t of run.plannerTicks) byHour.set(Math.floor(t.tMin / 60), [...(byHour.get(Math.floor(t.tMin / 60)) ?? []), t.entitiesPerSource]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const hours = [...byHour.keys()].sort((a, b) => a - b);
  assert.ok(hours.length >= 14, `${hours.length} simulated hours of planner runs`);
  // Hour 1 without its first run (it creates the cursor and health row of a new source).
  const first = mean(byHour.get(0)!.slice(1));
  const means = hours.map((h) => mean(byHour.get(h)!));
  console.log(`planner entities read per source per run by hour: ${means.map((m, i) => `h${i + 1} ${m.toFixed(2)}`).join(', ')}`);
  assert.ok(first > 0, 'the planner reads something each run (the cursor, the health row)');
  for (const h of hours.slice(1)) {
    const m = mean(byHour.get(h)!);
    assert.ok(Math.abs(m / first - 1) <= 0.1, `hour ${h + 1}: ${m.toFixed(2)} entities per source per run against ${first.toFixed(2)} in hour 1`);
  }
  // Re-reads came due at every level in the run (+1h, +6h, +12h): the hours compared include them.
  assert.deepEqual(run.rereads.map((r) => r.level), [0, 1, 2], JSON.stringify(run.rereads));
  assert.equal(run.plannerTicks.reduce((a, t) => a + t.nonKeyQueries, 0), 0, 'no planner query filters a non-key property');
});
