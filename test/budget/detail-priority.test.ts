/**
 * The budget priority `detail` (issue 17): the lowest, granted only what live collection, backfill
 * and settle leave, with a reserve kept after each grant, tickets for refused detail requests, and
 * a count of the others' refusals that a detail grant is to blame for (the target is 0).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TableClient } from '@azure/data-tables';
import { TenantBudget, decide, resolveBudgetOptions, DEMAND_GRACE_MS, type BudgetState, type Grant } from '../../shared/budget';
import { decodeGrants, encodeGrants, PEAK_MEMORY_MS } from '../../shared/budget/tenant-budget';
import { ManualClock } from '../../shared/time/clock';
import { testStorage, uniqueName } from '../support/azurite';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const W = 300_000;
const o = resolveBudgetOptions({});
let connectionString: string;

before(async () => {
  connectionString = await testStorage();
});

function state(grants: Grant[] = [], extra: Partial<BudgetState> = {}): BudgetState {
  return { grants, pausedUntil: 0, pauseReason: '', liveWaits: {}, ...extra };
}
const many = (n: number, priority: Grant['priority'], at = T0): Grant[] => Array.from({ length: n }, () => ({ at, priority }));

/** Grants detail requests one after the other at `at` until one is refused; returns how many were granted and the refusal. */
function fillWithDetail(s: BudgetState, at: number) {
  let granted = 0;
  for (;;) {
    const d = decide(s, 'detail', at, o);
    if (!d.granted) return { granted, refusal: d, state: d.state ?? s };
    s = d.state;
    granted++;
  }
}

test('a detail request gets a slot only while the window keeps its reserve: 80 of 90 with nothing else in it', () => {
  const r = fillWithDetail(state(), T0);
  assert.equal(r.granted, o.allowed - o.detailReserve);
  assert.equal(r.granted, 80);
  assert.equal(r.refusal.reason, 'reserved-for-others');
  // Live may still use every slot left: the reserve is theirs.
  let s = r.state;
  for (let i = 0; i < 10; i++) {
    const d = decide(s, 'live', T0 + 1, o, `L#${i}`);
    assert.ok(d.granted, `live request ${i} granted`);
    s = d.state;
  }
});

test('the reserve grows with the others in the window: with 30 live grants a detail grant leaves 30 free', () => {
  const r = fillWithDetail(state(many(30, 'live')), T0 + 1000);
  assert.equal(r.granted, 90 - 30 - 30);
});

test('the reserve remembers the busiest window of the others for an hour, decaying', () => {
  // A backfill filled a window (90 backfill grants in the window ending at T0).
  let s = state();
  for (let i = 0; i < 90; i++) {
    const d = decide(s, 'backfill', T0 - W + 1 + i * 1000, o);
    assert.ok(d.granted);
    s = d.state;
  }
  assert.equal(s.peakOthers, 90);
  // Just after it the window is empty, but the burst is remembered: no detail grant at all.
  const peakAt = s.peakAt!;
  assert.equal(fillWithDetail({ ...s, grants: [] }, peakAt + W).granted, 90 - Math.ceil(90 * (1 - W / PEAK_MEMORY_MS)));
  assert.equal(fillWithDetail({ ...s, grants: [] }, peakAt + 1).granted, 0);
  // Half an hour after the peak, half of it; after an hour, only the minimum reserve.
  const half = fillWithDetail({ ...s, grants: [] }, peakAt + PEAK_MEMORY_MS / 2);
  assert.equal(half.granted, 90 - 45);
  const later = fillWithDetail({ ...s, grants: [] }, peakAt + PEAK_MEMORY_MS);
  assert.equal(later.granted, 80);
});

test('while a live request waits, or soon after a backfill or rescan request was refused, detail requests yield', () => {
  // A live request refused for a full window is a waiter.
  const full = state(many(90, 'backfill', T0 - 1000));
  const live = decide(full, 'live', T0, o, 'L-x#0');
  assert.equal(live.granted, false);
  const withWaiter = { ...live.state!, grants: [] };
  const d1 = decide(withWaiter, 'detail', T0 + 1, o);
  assert.equal(!d1.granted && d1.reason, 'reserved-for-live');
  // A refused backfill request records when it comes back; detail requests yield until a grace after it.
  const withDetail = state([...many(85, 'backfill', T0 - 1000), ...many(5, 'detail', T0 - 2000)]);
  const bf = decide(withDetail, 'backfill', T0, o);
  assert.equal(bf.granted, false);
  const demandUntil = bf.state!.demandUntil!;
  assert.ok(!bf.granted && demandUntil === T0 + bf.waitMs + DEMAND_GRACE_MS);
  const emptied = { ...bf.state!, grants: [] };
  const d2 = decide(emptied, 'detail', demandUntil - 1, o);
  assert.equal(!d2.granted && d2.reason, 'reserved-for-others');
  assert.ok(decide({ ...emptied, peakOthers: 0 }, 'detail', demandUntil, o).granted, 'granted once the demand is over');
});

test('a tenant without detail requests writes nothing more on a refusal than before', () => {
  const full = state(many(90, 'backfill', T0 - 1000));
  const bf = decide(full, 'backfill', T0, o);
  assert.equal(bf.granted, false);
  assert.equal(bf.state, undefined, 'a backfill refusal with no detail about writes no state');
});

test('refused detail requests get tickets one detail slot apart, so a backlog comes back one at a time', () => {
  let s = state(many(90, 'live', T0 - 1000));
  const waits: number[] = [];
  for (let i = 0; i < 100; i++) {
    const d = decide(s, 'detail', T0, o);
    assert.equal(d.granted, false);
    waits.push(d.waitMs);
    s = d.state!;
  }
  const spacing = Math.ceil(W / (o.allowed - o.detailReserve));
  for (let i = 1; i < waits.length; i++) assert.equal(waits[i]! - waits[i - 1]!, spacing, `ticket ${i}`);
});

test('a refusal that a detail grant is to blame for is counted; one that is not, is not', () => {
  // 80 detail grants and 10 live fill the window: the next live request would have fitted without the details.
  const blamed = decide(state([...many(80, 'detail', T0 - 1000), ...many(10, 'live', T0 - 500)]), 'live', T0, o, 'L#1');
  assert.equal(blamed.granted, false);
  assert.equal(!blamed.granted && blamed.becauseOfDetail, true);
  assert.equal(blamed.state?.waitedForDetail, 1);
  // A window full of live requests: no detail to blame.
  const fair = decide(state([...many(90, 'live', T0 - 500)]), 'live', T0, o, 'L#1');
  assert.equal(!fair.granted && fair.becauseOfDetail, undefined);
  assert.equal(fair.state?.waitedForDetail, undefined);
});

test('the grant log encodes detail grants with their own code and reads them back', () => {
  const grants: Grant[] = [{ at: T0 + 1000, priority: 'live' }, { at: T0 + 1000, priority: 'detail' }, { at: T0 + 2000, priority: 'detail' }, { at: T0 + 3000, priority: 'rescan' }];
  const text = encodeGrants(grants, W);
  assert.match(text, /,d/);
  assert.deepEqual(decodeGrants(text).map((g) => g.priority).sort(), ['detail', 'detail', 'live', 'rescan']);
});

test('on Azurite: detail grants, the counter and the tickets are kept in the entity and shown by usage', async () => {
  const table = TableClient.fromConnectionString(connectionString, uniqueName('budget'), { allowInsecureConnection: true });
  await table.createTable();
  const clock = new ManualClock(T0);
  const budget = new TenantBudget(table, clock, { limit: 20, headroom: 0, detailReserve: 5 });
  for (let i = 0; i < 15; i++) assert.deepEqual(await budget.acquire('t', 'detail'), { granted: true });
  const refused = await budget.acquire('t', 'detail');
  assert.equal(!refused.granted && refused.reason, 'reserved-for-others');
  for (let i = 0; i < 5; i++) assert.deepEqual(await budget.acquire('t', 'live', `L#${i}`), { granted: true });
  const live = await budget.acquire('t', 'live', 'L#9');
  assert.equal(!live.granted && live.becauseOfDetail, true);
  const u = await budget.usage('t');
  assert.deepEqual([u.used, u.byPriority.detail, u.byPriority.live, u.waitedForDetail], [20, 15, 5, 1]);
  assert.ok(u.detailNextAt > T0);
});
