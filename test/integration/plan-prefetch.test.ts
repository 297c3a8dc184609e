/**
 * The planner timer run reads every cursor, health row and tenant budget with one query per table
 * (shared/planning/prefetch.ts), not one point read per source: counted through the storage meter
 * on Azurite. And what a run decides on those rows is what it could have decided on a point read
 * made at its start: a row changed since fails its compare-and-swap and is read again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { JobQueue } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource, type PlannerDeps } from '../../shared/planning/planner';
import { planSources, planSourceTick } from '../../shared/planning/plan-tick';
import { prefetchPlanRows } from '../../shared/planning/prefetch';
import { TenantBudget } from '../../shared/budget/tenant-budget';
import { MemoryLogger, silentLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { setSourceState, writeSourceState } from '../../shared/health';
import type { SourceConfig } from '../../shared/components';
import { sourceFixture } from '../support/fixtures';
import { testStorage, uniqueName } from '../support/azurite';
import { startStorageMeter, type StorageMeter } from '../../bench/meter';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const SETTINGS = { pageBatchMax: 1, planConcurrency: 8 };

async function setup(meter?: StorageMeter) {
  const storage = storageFromEnvironment({ JobsStorage: meter?.connectionString ?? await testStorage() });
  const prefix = uniqueName('t');
  const ledger = new Ledger(storage, prefix);
  const queueName = uniqueName('q');
  const budgetName = `${prefix}budget`;
  await storage.ensure([...ledger.tableNames(), budgetName], [queueName]);
  const clock = new ManualClock(T0);
  const queue = new JobQueue(storage.queue(queueName), clock);
  const budget = new TenantBudget(storage.table(budgetName), clock, { limit: 100 });
  const telemetry = new MemoryTelemetry();
  const deps: PlannerDeps = { ledger, queue, clock, log: silentLogger, telemetry, configHashOf: () => 'h1' };
  return { storage, prefix, ledger, queue, queueName, clock, budget, telemetry, deps };
}

/** Counts by `service operation resource` since the last reset, without the table prefix. */
function counted(meter: StorageMeter, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(meter.byResource()).map(([k, n]) => [k.split(prefix).join(''), n]));
}

function sources(n: number): SourceConfig[] {
  return Array.from({ length: n }, (_, i) => sourceFixture({ id: `customer-${String(i).padStart(3, '0')}`, tenantId: `tenant-${i}`, start: { kind: 'relative', text: '-20m' } }));
}

test('a timer run of 40 sources reads every cursor, health row and budget with one query per table, not one point read per source', async () => {
  const meter = await startStorageMeter(await testStorage());
  try {
    const { prefix, ledger, queueName, clock, budget, telemetry, deps } = await setup(meter);
    const all = sources(40);
    const gaugeDeps = { ledger, clock, telemetry, budget };
    const step = async () => {
      const outcomes: string[] = [];
      await planSources(deps, all, SETTINGS, async (d, source) => {
        const r = await planSourceTick(d, gaugeDeps, source);
        assert.equal(r.planError, undefined);
        assert.equal(r.gaugeError, undefined);
        outcomes.push(r.outcome!.outcome);
      }, { budget });
      return outcomes;
    };

    // The first step: every source is new. No cursor or health row is read by key (the query found none).
    meter.reset();
    assert.deepEqual(new Set(await step()), new Set(['planned']));
    const first = counted(meter, prefix);
    assert.equal(first['table read-entity cursors'], 1, 'one query for the 40 cursors, no 404 point reads');
    assert.equal(first['table read-entity health'], 1, 'one query for the 40 health rows, no point read before Initialized');
    assert.equal(first['table read-entity budget'], 1, 'one query for every tenant\'s budget');
    assert.equal(first['table write-entity health'], 40, 'Initialized, once each');
    for (const s of all) assert.equal((await ledger.getHealth(s.id))?.state, 'Initialized');

    // Every tenant has used its budget once since (page jobs); a page job moved one watermark.
    for (const s of all) await budget.acquire(s.tenantId, 'live');
    const moved = all[7]!;
    const cursor = (await ledger.getCursor(moved.id))!;
    await ledger.advanceWatermark(moved.id, cursor.startMs + 5 * 60_000);

    // The next step, seconds later: nothing is due. Three queries and nothing else.
    clock.advance(10_000);
    meter.reset();
    assert.deepEqual(new Set(await step()), new Set(['not-due']));
    assert.deepEqual(counted(meter, prefix), {
      'table read-entity cursors': 1,
      'table read-entity health': 1,
      'table read-entity budget': 1,
    }, 'a point read of a cursor, a health row or a budget is a regression (issue 19: planner work proportional to new work)');
    const gauge = (name: string, id: string) => telemetry.gauges.get(`${name} ${JSON.stringify({ source: id })}`)?.value;
    assert.equal(gauge('mtc.source.lag_seconds', moved.id), (clock.now() - (cursor.startMs + 5 * 60_000)) / 1000, 'the lag gauge from the health row the query read');
    assert.equal(gauge('mtc.budget.utilisation', all[3]!.id), Math.round((1 / budget.options.allowed) * 1000) / 1000, 'the budget gauge from the budget query');

    // A step a poll interval later plans every source again: still no point read of a cursor or health row.
    clock.advance(2 * 60_000);
    meter.reset();
    assert.deepEqual(new Set(await step()), new Set(['planned']));
    const third = counted(meter, prefix);
    assert.equal(third['table read-entity cursors'], 1);
    assert.equal(third['table read-entity health'], 1);
    assert.equal(third['table read-entity budget'], 1);
    assert.ok((third[`queue put-message ${queueName}`] ?? 0) >= 40, 'every source planned a slice');
  } finally {
    await meter.close();
  }
});

test('the run\'s queries page: 2,500 cursors and health rows (2.5 times a query page) all arrive, in three requests each', async () => {
  const meter = await startStorageMeter(await testStorage());
  try {
    const { prefix, ledger, deps } = await setup(meter);
    const n = 2500;
    const ids = Array.from({ length: n }, (_, i) => `s${String(i).padStart(5, '0')}`);
    for (let i = 0; i < n; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map(async (id, j) => {
        assert.ok(await ledger.createCursor(id, T0 - (i + j) * 1000, 0));
        await setSourceState(deps, id, 'Initialized', { known: { row: undefined } });
      }));
    }
    meter.reset();
    const prefetch = await prefetchPlanRows({ ledger, log: silentLogger });
    const by = counted(meter, prefix);
    assert.equal(by['table read-entity cursors'], 3, 'a query answers at most 1000 rows a request');
    assert.equal(by['table read-entity health'], 3);
    for (const [i, id] of ids.entries()) {
      assert.equal(prefetch.takeCursor(id)?.row?.startMs, T0 - i * 1000, `cursor ${id}`);
      assert.equal(prefetch.takeHealth(id)?.row?.state, 'Initialized', `health ${id}`);
    }
    assert.deepEqual(prefetch.takeCursor('unknown'), { row: undefined }, 'a source the query did not find has no cursor');
  } finally {
    await meter.close();
  }
});

test('a page batch\'s health query: the rows of exactly the named sources (a quote in an id, some without a row), 32 of 40, in one request', async () => {
  const meter = await startStorageMeter(await testStorage());
  try {
    const { prefix, ledger, deps } = await setup(meter);
    const ids = Array.from({ length: 40 }, (_, i) => (i === 7 ? "o'brien-7" : `s${String(i).padStart(2, '0')}`));
    await Promise.all(ids.map((id, i) => (i % 5 === 4 ? undefined : setSourceState(deps, id, 'Initialized', { known: { row: undefined } }))));
    const asked = ids.slice(4, 36);
    meter.reset();
    const got = new Map<string, string>();
    for await (const h of ledger.listHealthOf(asked)) got.set(h.sourceId, h.state);
    assert.equal(counted(meter, prefix)['table read-entity health'], 1, 'one request');
    const expected = asked.filter((id) => ids.indexOf(id) % 5 !== 4);
    assert.deepEqual([...got.keys()].sort(), [...expected].sort(), 'the named sources that have a row, no other');
    assert.ok(got.has("o'brien-7"));
    assert.ok([...got.values()].every((state) => state === 'Initialized'));
    const none = [];
    for await (const h of ledger.listHealthOf([])) none.push(h);
    assert.deepEqual(none, []);
  } finally {
    await meter.close();
  }
});

test('a row taken from the query is taken once: the source\'s second read in the run goes to the table', async () => {
  const { ledger, deps } = await setup();
  assert.ok(await ledger.createCursor('contoso', T0, 0));
  const prefetch = await prefetchPlanRows(deps);
  assert.ok(prefetch.takeCursor('contoso')?.row);
  assert.equal(prefetch.takeCursor('contoso'), undefined, 'taken: read it by key');
  assert.deepEqual(prefetch.takeHealth('contoso'), { row: undefined });
  assert.equal(prefetch.takeHealth('contoso'), undefined);
});

test('a cursor another planner advanced after the run\'s query: this run\'s swap fails, it plans nothing twice, and the next run plans on', async () => {
  const { ledger, clock, deps } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-20m' } });
  assert.equal((await planSource(deps, source)).outcome, 'planned');
  clock.advance(2 * 60_000);
  const prefetch = await prefetchPlanRows(deps);
  // Another planner (a second app on the same storage) plans the source after the query.
  assert.equal((await planSource(deps, source)).outcome, 'planned');
  const after = (await ledger.getCursor(source.id))!;
  const stale = await planSource({ ...deps, prefetch }, source);
  assert.ok(stale.outcome === 'lost-race' || stale.outcome === 'not-due', `the run on the stale cursor plans nothing (got ${stale.outcome})`);
  const now = (await ledger.getCursor(source.id))!;
  assert.equal(now.scheduledUntil, after.scheduledUntil, 'the cursor is as the other planner left it');
  const live: string[] = [];
  for await (const s of ledger.listSlices(source.id)) if (s.kind === 'live') live.push(`${s.startMs}-${s.endMs}`);
  assert.equal(new Set(live).size, live.length);
  for (let i = 1; i < live.length; i++) assert.equal(live[i]!.split('-')[0], live[i - 1]!.split('-')[1], 'live slices are contiguous, none overlaps');
  clock.advance(2 * 60_000);
  assert.equal((await planSource({ ...deps, prefetch: await prefetchPlanRows(deps) }, source)).outcome, 'planned');
});

test('a health row changed after the run\'s query: the state change decided on it fails its swap, reads again and reports the real previous state', async () => {
  const { ledger, deps, telemetry } = await setup();
  await setSourceState(deps, 'contoso', 'Initialized');
  const prefetch = await prefetchPlanRows(deps);
  // A page job moves the source on after the query.
  await setSourceState(deps, 'contoso', 'Collecting');
  const known = prefetch.takeHealth('contoso')!;
  assert.equal(known.row?.state, 'Initialized', 'the query saw the older row');
  const r = await writeSourceState(deps, 'contoso', 'Stopping', { reason: 'disabled', known });
  assert.equal(r.written, true);
  assert.equal((await ledger.getHealth('contoso'))?.state, 'Stopping');
  const last = telemetry.events.filter((e) => e.name === 'mtc.health').at(-1);
  assert.equal(last?.properties.previousState, 'Collecting', 'the event names the state the row really had');

  // A refusal decided on a stale copy (onlyFrom) is decided again on a fresh read.
  const stale = { row: { ...(await ledger.getHealth('contoso'))!, state: 'Error' } };
  await setSourceState(deps, 'contoso', 'Started');
  const again = await writeSourceState(deps, 'contoso', 'Collecting', { onlyFrom: ['Started'], known: stale });
  assert.equal(again.written, true, 'the fresh read finds Started, which the change may come from');
  assert.equal((await ledger.getHealth('contoso'))?.state, 'Collecting');

  // A copy that says there is no row when there is one: the create fails, the next attempt reads.
  const created = await writeSourceState(deps, 'contoso', 'Initialized', { known: { row: undefined } });
  assert.equal(created.written, true);
  assert.equal((await ledger.getHealth('contoso'))?.state, 'Initialized');
});

test('a failed query leaves the run to point reads: it still plans every source, with a warning', async () => {
  const { ledger, clock, budget, telemetry, deps } = await setup();
  const log = new MemoryLogger();
  const failing = new Proxy(ledger, {
    get: (t, p) => (p === 'listCursors' ? () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('table unavailable')) }) }) : Reflect.get(t, p)),
  });
  const all = sources(3);
  const outcomes: string[] = [];
  await planSources({ ...deps, ledger: failing, log }, all, SETTINGS, async (d, source) => {
    outcomes.push((await planSourceTick(d, { ledger, clock, telemetry, budget }, source)).outcome!.outcome);
  }, { budget });
  assert.deepEqual(outcomes, ['planned', 'planned', 'planned']);
  assert.ok(log.lines.some((l) => l.level === 'warn' && /reading every cursor at once failed \(table unavailable\); this run reads them source by source/.test(l.message)));
  for (const s of all) assert.ok(await ledger.getCursor(s.id));
});
