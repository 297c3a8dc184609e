/**
 * The tenant budget on real Azurite: compare-and-swap under racing acquires, the rolling window,
 * priorities, pause and headroom, and the wait a refused caller is told.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TableClient } from '@azure/data-tables';
import { TenantBudget, BudgetOptionError, budgetTableName, decide, resolveBudgetOptions, LIVE_WAIT_GRACE_MS, type BudgetPriority, type TenantBudgetOptions } from '../../shared/budget';
import { ManualClock } from '../../shared/time/clock';
import { testStorage, uniqueName } from '../support/azurite';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const WINDOW = 300_000;
let connectionString: string;

before(async () => {
  connectionString = await testStorage();
});

async function makeTable(): Promise<TableClient> {
  const t = TableClient.fromConnectionString(connectionString, uniqueName('budget'), { allowInsecureConnection: true });
  await t.createTable();
  return t;
}

async function budgets(n: number, opts: TenantBudgetOptions, clock = new ManualClock(T0)) {
  const table = await makeTable();
  // Separate TenantBudget objects over the same table stand for separate instances.
  const list = Array.from({ length: n }, () => new TenantBudget(TableClient.fromConnectionString(connectionString, table.tableName, { allowInsecureConnection: true }), clock, opts));
  return { clock, list, one: list[0]! };
}

/** The largest number of grants in any half-open window (t - windowMs, t]. */
function maxInAnyWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[j]! <= sorted[i]! - windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

test('many instances racing for the last slots never grant more than allowed', async () => {
  const { list } = await budgets(8, { limit: 10, headroom: 0, maxAttempts: 200 });
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => list[i % list.length]!.acquire('tenant-a', 'live')));
  const granted = results.filter((r) => r.granted).length;
  assert.equal(granted, 10);
  for (const r of results) if (!r.granted) assert.equal(r.reason, 'window-full');
  assert.equal((await list[0]!.usage('tenant-a')).used, 10);
});

test('racing acquires over many minutes never put more than allowed grants in any rolling window', async () => {
  const clock = new ManualClock(T0);
  const { list } = await budgets(4, { limit: 12, headroom: 0, maxAttempts: 200, minLiveReserve: 2 }, clock);
  const grantedAt: number[] = [];
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const priorities: BudgetPriority[] = ['live', 'backfill', 'rescan'];
  for (let step = 0; step < 40; step++) {
    clock.advance(Math.floor(rand() * 60_000));
    const racers = 3 + Math.floor(rand() * 6);
    const results = await Promise.all(Array.from({ length: racers }, (_, i) => list[i % 4]!.acquire('tenant-b', priorities[Math.floor(rand() * 3)]!)));
    for (const r of results) if (r.granted) grantedAt.push(clock.now());
  }
  assert.ok(grantedAt.length > 40, `the run should grant a lot, granted ${grantedAt.length}`);
  assert.ok(maxInAnyWindow(grantedAt, WINDOW) <= 12, `at most 12 grants in any 5-minute window, saw ${maxInAnyWindow(grantedAt, WINDOW)}`);
});

test('a grant decides on the entity as the instance last wrote it (one write, no read) and falls back to a fresh read when another instance wrote since', async () => {
  const clock = new ManualClock(T0);
  const { list } = await budgets(2, { limit: 30, headroom: 0, maxAttempts: 50 }, clock);
  const [a, b] = list as [TenantBudget, TenantBudget];
  // Count the storage calls of instance a (the TableClient it holds).
  const table = (a as unknown as { table: TableClient }).table;
  const calls = { get: 0, write: 0 };
  const get = table.getEntity.bind(table), update = table.updateEntity.bind(table), create = table.createEntity.bind(table);
  table.getEntity = ((...x: Parameters<typeof get>) => { calls.get++; return get(...x); }) as typeof table.getEntity;
  table.updateEntity = ((...x: Parameters<typeof update>) => { calls.write++; return update(...x); }) as typeof table.updateEntity;
  table.createEntity = ((...x: Parameters<typeof create>) => { calls.write++; return create(...x); }) as typeof table.createEntity;
  // Alone: after the first grant, every grant is one write and no read.
  for (let i = 0; i < 10; i++) {
    assert.equal((await a.acquire('tenant-c', 'live')).granted, true);
    clock.advance(1000);
  }
  assert.deepEqual(calls, { get: 1, write: 10 }, 'ten grants alone: one read (the first) and ten writes');
  assert.equal(a.cacheStats.hits, 9);
  // Another instance writes: a's next decision on its copy loses the write and is made again on a fresh read.
  for (let i = 0; i < 5; i++) assert.equal((await b.acquire('tenant-c', 'backfill')).granted, true);
  assert.equal((await a.acquire('tenant-c', 'live')).granted, true);
  assert.equal(a.cacheStats.misses, 1);
  // Nothing is granted twice: 16 grants, and the window holds exactly 30 - 16 more.
  assert.equal((await a.usage('tenant-c')).used, 16);
  let more = 0;
  for (let i = 0; i < 40; i++) if ((await list[i % 2]!.acquire('tenant-c', 'live')).granted) more++;
  assert.equal(more, 14, 'the remembered copy never grants past the limit');
  // A refusal decided on the copy is checked against a fresh read (a refusal that writes nothing would not notice a stale copy).
  clock.advance(WINDOW);
  const fresh = await budgets(1, { limit: 2, headroom: 0 }, clock);
  const c = fresh.one;
  assert.equal((await c.acquire('tenant-d', 'live')).granted, true);
  assert.equal((await c.acquire('tenant-d', 'live')).granted, true);
  assert.equal((await c.acquire('tenant-d', 'live')).granted, false);
  clock.advance(WINDOW + 1);
  assert.equal((await c.acquire('tenant-d', 'live')).granted, true, 'slots freed by time are seen on the copy too');
});

test('a burst at the end of one window and another at the start of the next cannot exceed the rolling limit', async () => {
  // A token bucket of 10 with refill 10/5 min would allow 10 at 4:59 and 10 more at 5:01.
  const { clock, one } = await budgets(1, { limit: 10, headroom: 0 });
  clock.advance(299_000);
  for (let i = 0; i < 10; i++) assert.equal((await one.acquire('t', 'live')).granted, true);
  clock.advance(2_000);
  const r = await one.acquire('t', 'live');
  assert.deepEqual(r, { granted: false, reason: 'window-full', waitMs: 299_000 + WINDOW - (T0 + 301_000 - T0) + 1 });
});

test('a refused caller is told how long until its slot frees, and gets it then', async () => {
  const { clock, one } = await budgets(1, { limit: 5, headroom: 0, minLiveReserve: 1 });
  for (let i = 0; i < 5; i++) {
    assert.equal((await one.acquire('t', 'live')).granted, true);
    clock.advance(10_000);
  }
  // Grants at 0, 10, 20, 30, 40 s; now 50 s: the grant at 0 leaves the window at 300 s.
  const refused = await one.acquire('t', 'live');
  assert.equal(refused.granted, false);
  assert.ok(!refused.granted);
  assert.equal(refused.reason, 'window-full');
  assert.equal(refused.waitMs, 250_001);
  clock.advance(refused.waitMs - 2);
  assert.equal((await one.acquire('t', 'live')).granted, false, 'not a millisecond early');
  clock.advance(2);
  assert.equal((await one.acquire('t', 'live')).granted, true);
});

test('backfill may use every slot live leaves, but a waiting live request gets the next slot that frees', async () => {
  const { clock, one } = await budgets(1, { limit: 20, headroom: 0 });
  assert.equal((await one.acquire('t', 'live')).granted, true);
  clock.advance(1_000);
  let backfill = 0;
  while ((await one.acquire('t', 'backfill')).granted) backfill++;
  assert.equal(backfill, 19, 'no slot stays idle for a live request that is not coming');
  // Live comes and finds the window full: refused until the oldest grant (its own, at T0) leaves.
  const live = await one.acquire('t', 'live');
  assert.ok(!live.granted);
  assert.equal(live.reason, 'window-full');
  assert.equal(live.waitMs, WINDOW - 1_000 + 1);
  assert.equal((await one.usage('t')).liveWaiters, 1);
  // The slot frees; backfill asks first and must leave it to live.
  clock.advance(live.waitMs);
  const early = await one.acquire('t', 'backfill');
  assert.ok(!early.granted);
  assert.equal(early.reason, 'reserved-for-live');
  assert.ok(early.waitMs >= 1_000, `a yielding backfill request comes back when a slot is free for it, waits ${early.waitMs} ms`);
  assert.equal((await one.acquire('t', 'live')).granted, true, 'live gets the freed slot');
  assert.equal((await one.acquire('t', 'backfill')).granted, false, 'the window is full again');
  assert.equal((await one.usage('t')).liveWaiters, 0, 'the grant removes the waiter');
  // Backfill resumes as soon as the next grant leaves the window.
  clock.advance(1_000);
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
});

test('minLiveReserve keeps slots free for live at all times', async () => {
  const { clock, one } = await budgets(1, { limit: 20, headroom: 0, minLiveReserve: 3 });
  let backfill = 0;
  for (let i = 0; i < 25; i++) {
    const r = await one.acquire('t', 'backfill');
    if (!r.granted) {
      assert.equal(r.reason, 'reserved-for-live');
      // Backfill holds 17 grants at T0; it may take another when one of them leaves the window.
      assert.equal(r.waitMs, WINDOW + 1);
      break;
    }
    backfill++;
  }
  assert.equal(backfill, 17, 'backfill leaves the 3 reserved slots free');
  for (let i = 0; i < 3; i++) assert.equal((await one.acquire('t', 'live')).granted, true, 'live still gets the reserve');
  const full = await one.acquire('t', 'live');
  assert.equal(full.granted, false);
  assert.equal(!full.granted && full.reason, 'window-full');
  clock.advance(WINDOW);
  const u = await one.usage('t');
  assert.equal(u.used, 0);
});

test('a waiting live request whose job never comes back stops holding backfill off after the grace', async () => {
  const { clock, one } = await budgets(1, { limit: 4, headroom: 0 });
  for (let i = 0; i < 4; i++) assert.equal((await one.acquire('t', 'backfill')).granted, true);
  const live = await one.acquire('t', 'live');
  assert.ok(!live.granted);
  // The live job is lost (its instance died). Backfill leaves it a slot until its wait is LIVE_WAIT_GRACE_MS past.
  clock.advance(live.waitMs + LIVE_WAIT_GRACE_MS - 1);
  for (let i = 0; i < 3; i++) assert.equal((await one.acquire('t', 'backfill')).granted, true);
  const held = await one.acquire('t', 'backfill');
  assert.ok(!held.granted);
  assert.equal(held.reason, 'reserved-for-live');
  assert.equal(held.waitMs, 1, 'told to come back when the wait lapses');
  clock.advance(1);
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
});

test('backfill leaves one freed slot per waiting live request, even when the first waiter is served', async () => {
  // Two live requests wait; two slots free at the same instant; a backfill request refused earlier
  // comes back at that instant too. Both live requests must get a slot before the backfill does.
  const { clock, one } = await budgets(1, { limit: 4, headroom: 0 });
  for (let i = 0; i < 2; i++) assert.equal((await one.acquire('t', 'backfill')).granted, true);
  clock.advance(10_000);
  for (let i = 0; i < 2; i++) assert.equal((await one.acquire('t', 'backfill')).granted, true);
  const a = await one.acquire('t', 'live', 'slice-a#0');
  const b = await one.acquire('t', 'live', 'slice-b#0');
  assert.ok(!a.granted && !b.granted);
  assert.equal(a.waitMs, b.waitMs);
  assert.equal((await one.usage('t')).liveWaiters, 2);
  clock.set(T0 + WINDOW + 1); // the two grants made at T0 have left the window
  assert.equal((await one.acquire('t', 'live', 'slice-a#0')).granted, true);
  const c = await one.acquire('t', 'backfill');
  assert.ok(!c.granted, 'the second freed slot is kept for the second waiter');
  assert.equal(c.reason, 'reserved-for-live');
  assert.equal((await one.acquire('t', 'live', 'slice-b#0')).granted, true);
  assert.equal((await one.usage('t')).liveWaiters, 0);
});

test('a live request refused again after its time moves its wait, so it keeps its priority', async () => {
  const { clock, one } = await budgets(1, { limit: 2, headroom: 0 });
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
  clock.advance(60_000);
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
  const first = await one.acquire('t', 'live', 'L#0');
  assert.ok(!first.granted);
  // The slot that frees is taken by a request sent without an acquire (a retry after a 401).
  clock.advance(first.waitMs);
  await one.charge('t', 'backfill');
  const again = await one.acquire('t', 'live', 'L#0');
  assert.ok(!again.granted);
  // Its wait now ends at the next free slot, long after the first mark would have lapsed.
  clock.advance(again.waitMs);
  assert.equal((await one.acquire('t', 'backfill')).granted, false, 'backfill still leaves the slot to live');
  assert.equal((await one.acquire('t', 'live', 'L#0')).granted, true);
});

test('a live refusal records its wait under its key, and an unchanged wait is not written again', () => {
  const o = resolveBudgetOptions({ limit: 2, headroom: 0 });
  const state = { grants: [{ at: T0, priority: 'backfill' as const }, { at: T0 + 10_000, priority: 'backfill' as const }], pausedUntil: 0, pauseReason: '', liveWaits: {} };
  const first = decide(state, 'live', T0 + 20_000, o, 'L#0');
  assert.ok(!first.granted && first.state);
  assert.deepEqual(first.state.liveWaits, { 'L#0': T0 + WINDOW + 1 });
  const same = decide(first.state, 'live', T0 + 20_000, o, 'L#0');
  assert.ok(!same.granted);
  assert.equal(same.state, undefined, 'an unchanged wait is not written again');
});

test('rescan yields to a running backfill, and backfill to live', async () => {
  const { one } = await budgets(1, { limit: 20, headroom: 0, minLiveReserve: 3, rescanYield: 2 });
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
  let rescan = 0;
  while ((await one.acquire('t', 'rescan')).granted) rescan++;
  assert.equal(rescan, 20 - 3 - 2 - 1);
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
  assert.equal((await one.acquire('t', 'backfill')).granted, true);
  assert.equal((await one.acquire('t', 'backfill')).granted, false);
});

test('a 429 pause stops every instance until Retry-After has passed and is never shortened', async () => {
  const { clock, list } = await budgets(2, { limit: 100 });
  const [a, b] = [list[0]!, list[1]!];
  await a.pause('t', clock.now() + 30_000, '429 Retry-After 30');
  await b.pause('t', clock.now() + 5_000, 'a shorter pause does not win');
  for (const inst of [a, b]) {
    const r = await inst.acquire('t', 'live');
    assert.deepEqual(r, { granted: false, reason: 'paused', waitMs: 30_000 });
  }
  assert.equal((await b.usage('t')).pauseReason, '429 Retry-After 30');
  assert.equal((await b.acquire('other-tenant', 'live')).granted, true, 'other tenants are not paused');
  clock.advance(30_000);
  assert.equal((await b.acquire('t', 'live')).granted, true);
  assert.equal((await a.usage('t')).pausedUntil, 0);
});

test('the default budget leaves 10% headroom: 90 of 100 requests per 5 minutes', async () => {
  const { one } = await budgets(1, {});
  let granted = 0;
  for (let i = 0; i < 95; i++) if ((await one.acquire('t', 'live')).granted) granted++;
  assert.equal(granted, 90);
  const u = await one.usage('t');
  assert.deepEqual({ used: u.used, allowed: u.allowed, limit: u.limit, windowMs: u.windowMs }, { used: 90, allowed: 90, limit: 100, windowMs: WINDOW });
});

test('charged requests (a retry after a 401, a detail call) count against the window', async () => {
  const { one } = await budgets(1, { limit: 5, headroom: 0, minLiveReserve: 0 });
  await one.charge('t', 'backfill', 4);
  assert.equal((await one.acquire('t', 'live')).granted, true);
  assert.equal((await one.acquire('t', 'live')).granted, false);
  assert.equal((await one.usage('t')).byPriority.backfill, 4);
});

test('bad options and arguments are refused with the option named', async () => {
  const table = await makeTable();
  const clock = new ManualClock(T0);
  assert.throws(() => new TenantBudget(table, clock, { headroom: 1 }), (e: unknown) => e instanceof BudgetOptionError && e.option === 'headroom');
  assert.throws(() => new TenantBudget(table, clock, { limit: 0 }), /limit must be an integer from 1/);
  assert.throws(() => new TenantBudget(table, clock, { windowMS: 1 } as unknown as TenantBudgetOptions), /Unknown TenantBudget option windowMS/);
  const b = new TenantBudget(table, clock);
  await assert.rejects(b.acquire('a/b', 'live'), /tenantKey must be/);
  await assert.rejects(b.acquire('t', 'urgent' as BudgetPriority), /priority must be 'live', 'backfill', 'rescan' or 'detail'/);
  await assert.rejects(b.pause('t', Number.NaN, 'x'), /untilMs must be epoch milliseconds/);
  assert.equal(budgetTableName({}), 'mtcbudget');
  assert.equal(budgetTableName({ MTC_TABLE_PREFIX: 'e2e1' }), 'e2e1budget');
  assert.throws(() => budgetTableName({ MTC_TABLE_PREFIX: 'bad-prefix' }), /MTC_TABLE_PREFIX/);
});

test('the pure decision drops a grant exactly one window after it was made', () => {
  const o = resolveBudgetOptions({ limit: 1, headroom: 0, minLiveReserve: 0 });
  const state = { grants: [{ at: T0, priority: 'live' as const }], pausedUntil: 0, pauseReason: '', liveWaits: {} };
  assert.equal(decide(state, 'live', T0 + WINDOW - 1, o).granted, false);
  assert.equal(decide(state, 'live', T0 + WINDOW, o).granted, true);
});
