import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueClient } from '@azure/storage-queue';
import { Ledger, liveSliceId, newSlice } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { JobQueue, decodePageJob } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource, OUTBOX_STALE_MS, type PlanOutcome } from '../../shared/planning/planner';
import { planSourceTick } from '../../shared/planning/plan-tick';
import { TenantBudget } from '../../shared/budget/tenant-budget';
import { silentLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { pruneLedger, LEDGER_RETENTION_MS } from '../../shared/recovery';
import { sourceFixture } from '../support/fixtures';
import { testStorage, uniqueName } from '../support/azurite';
import { startStorageMeter } from '../../bench/meter';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

function deps(ledger: Ledger, queue: JobQueue, clock: ManualClock) {
  return { ledger, queue, clock, log: silentLogger, telemetry: new MemoryTelemetry(), configHashOf: () => 'h1' };
}

async function setup() {
  const cs = await testStorage();
  const storage = storageFromEnvironment({ JobsStorage: cs });
  const ledger = new Ledger(storage, uniqueName('t'));
  const queueName = uniqueName('q');
  await storage.ensure(ledger.tableNames(), [queueName]);
  const clock = new ManualClock(T0);
  const queue = new JobQueue(storage.queue(queueName), clock);
  return { cs, storage, ledger, queue, queueClient: storage.queue(queueName), clock };
}

async function drainJobs(q: QueueClient) {
  const jobs = [];
  while (true) {
    const r = await q.receiveMessages({ numberOfMessages: 32 });
    if (!r.receivedMessageItems.length) break;
    for (const m of r.receivedMessageItems) {
      jobs.push(decodePageJob(Buffer.from(m.messageText, 'base64').toString('utf8')));
      await q.deleteMessage(m.messageId, m.popReceipt);
    }
  }
  return jobs;
}

test('a first plan creates the cursor at the configured start and one job per slice', async () => {
  const { ledger, queue, queueClient, clock } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-3h@h' } });
  const r = await planSource(deps(ledger, queue, clock), source);
  assert.equal(r.outcome, 'planned');
  const cursor = await ledger.getCursor(source.id);
  assert.equal(cursor!.startMs, T0 - 3 * 3600_000);
  assert.equal(cursor!.scheduledUntil, T0 - 10 * 60_000);
  assert.deepEqual(cursor!.pending, [], 'the outbox is cleared after enqueueing');
  const jobs = await drainJobs(queueClient);
  assert.equal(jobs.length, 3);
  assert.ok(jobs.every((j) => j.page === 0 && j.sourceId === source.id));
  const slices = [];
  for await (const s of ledger.listSlices(source.id)) slices.push(s);
  assert.deepEqual(slices.map((s) => [s.startMs, s.endMs]), [[T0 - 3 * 3600_000, T0 - 2 * 3600_000], [T0 - 2 * 3600_000, T0 - 3600_000], [T0 - 3600_000, T0 - 10 * 60_000]]);
});

test('two planners racing: one wins, the other does nothing', async () => {
  const { ledger, queue, queueClient, clock } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-2h@h' } });
  // Both read the same cursor; only one conditional write can succeed.
  await planSource(deps(ledger, queue, clock), source);
  await drainJobs(queueClient);
  clock.advance(5 * 60_000);
  const results = await Promise.all([
    planSource(deps(ledger, queue, clock), source),
    planSource(deps(ledger, queue, clock), source),
  ]);
  const outcomes = results.map((r) => r.outcome).sort();
  assert.deepEqual(outcomes, ['lost-race', 'planned']);
  const jobs = await drainJobs(queueClient);
  assert.equal(jobs.length, 1, 'exactly one new slice was enqueued');
  const ids = new Set<string>();
  for await (const s of ledger.listSlices(source.id)) {
    assert.ok(!ids.has(s.id));
    ids.add(s.id);
  }
  const slices = [];
  for await (const s of ledger.listSlices(source.id)) slices.push(s);
  for (let i = 1; i < slices.length; i++) assert.equal(slices[i]!.startMs, slices[i - 1]!.endMs, 'slices stay contiguous with no overlap');
});

test('the outbox: a planner that died after advancing the cursor loses no slice', async () => {
  const { ledger, queue, queueClient, clock } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-2h@h' } });
  // Simulate the crash: enqueueing fails after the cursor and outbox were written.
  const failing = Object.assign(Object.create(Object.getPrototypeOf(queue)), queue, {
    send: async () => { throw new Error('queue unavailable'); },
  }) as typeof queue;
  await assert.rejects(planSource(deps(ledger, failing, clock), source), /queue unavailable/);
  const cursor = await ledger.getCursor(source.id);
  assert.equal(cursor!.pending.length, 2, 'the planned slices wait in the outbox');
  assert.equal((await drainJobs(queueClient)).length, 0);

  // A fresh outbox is left alone (its writer may still be working) ...
  let r = await planSource(deps(ledger, queue, clock), source);
  assert.equal(r.outcome, 'lost-race');
  // ... a stale one is relayed by the next planner.
  clock.advance(OUTBOX_STALE_MS + 1000);
  r = await planSource(deps(ledger, queue, clock), source);
  assert.equal(r.relayed, 2);
  const jobs = await drainJobs(queueClient);
  const firstPages = new Set(jobs.filter((j) => j.page === 0).map((j) => j.sliceId));
  for (const p of cursor!.pending) assert.ok(firstPages.has(p.id), `slice ${p.id} was enqueued`);
  assert.deepEqual((await ledger.getCursor(source.id))!.pending, []);
});

test('a slice row is created once: writing it again leaves the existing row untouched', async () => {
  const { ledger } = await setup();
  const row = newSlice({ sourceId: 's1', id: 'L-1-2', kind: 'live', runId: '', startMs: 1, endMs: 2 }, 1);
  assert.equal(await ledger.createSlice(row), true);
  const s = await ledger.getSlice('s1', 'L-1-2');
  const advanced = await ledger.swapSlice({ ...s!, state: 'done', page: 3, rows: 42 });
  assert.ok(advanced);
  assert.equal(await ledger.createSlice(row), false);
  const again = await ledger.getSlice('s1', 'L-1-2');
  assert.equal(again!.state, 'done');
  assert.equal(again!.rows, 42);
  // A stale etag loses.
  assert.equal(await ledger.swapSlice({ ...s!, state: 'parked' }), undefined);
});

test('the completed watermark only moves forward', async () => {
  const { ledger } = await setup();
  assert.equal(await ledger.advanceWatermark('s2', 1000), 1000);
  assert.equal(await ledger.advanceWatermark('s2', 500), 1000);
  assert.equal(await ledger.advanceWatermark('s2', 2000), 2000);
});

test('finished slices older than the retention are pruned from the ledger; the watermark and parked slices stay', async () => {
  const { ledger, queue, clock } = await setup();
  const mk = (id: string, startMs: number, endMs: number, over: Partial<Parameters<typeof ledger.createSlice>[0]> = {}) =>
    ledger.createSlice({ ...newSlice({ sourceId: 'p1', id, kind: 'live', runId: '', startMs, endMs }, T0 - LEDGER_RETENTION_MS - 1000), state: 'done', ...over });
  // Real slice ids: pruning reads key ranges (L-<start>-<end>), never a scan by state.
  await mk(liveSliceId(0, 1000), 0, 1000);
  await mk(liveSliceId(1000, 2000), 1000, 2000, { state: 'parked' });
  await mk(liveSliceId(2000, 3000), 2000, 3000, { updatedAt: T0 });
  await mk('B-run-old', 0, 1000, { kind: 'backfill' });
  const n = await pruneLedger(deps(ledger, queue, clock), { id: 'p1' } as never, { completedUntil: 3000, settledUntil: 0 });
  assert.equal(n, 1);
  const left: string[] = [];
  for await (const s of ledger.listSlices('p1')) left.push(s.id);
  assert.deepEqual(left.sort(), ['B-run-old', liveSliceId(1000, 2000), liveSliceId(2000, 3000)]);
});

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Marks every live slice that is not done yet done with `rowsPerMs` rows, finished at `doneAt`, and moves the watermark over them. */
async function finishLive(ledger: Ledger, sourceId: string, rowsPerMs: number, doneAt: number): Promise<void> {
  let until = 0;
  for await (const s of ledger.listSlices(sourceId)) {
    if (s.kind !== 'live') continue;
    if (s.state !== 'done') assert.ok(await ledger.swapSlice({ ...s, state: 'done', rows: Math.round(rowsPerMs * (s.endMs - s.startMs)), requests: 1, updatedAt: doneAt }));
    until = Math.max(until, s.endMs);
  }
  await ledger.advanceWatermark(sourceId, until);
}

async function live(ledger: Ledger, sourceId: string) {
  const out = [];
  for await (const s of ledger.listSlices(sourceId)) if (s.kind === 'live') out.push(s);
  return out.sort((a, b) => a.startMs - b.startMs);
}

test('a cold start of unknown density is one slice per 10-day window at the default sliceLength', async () => {
  const { ledger, queue, queueClient, clock } = await setup();
  const source = sourceFixture({ id: 'cold', start: { kind: 'relative', text: '-15d' }, sliceMs: 10 * DAY });
  await planSource(deps(ledger, queue, clock), source);
  let slices = await live(ledger, source.id);
  assert.equal(slices.length, 1);
  assert.equal(slices[0]!.endMs - slices[0]!.startMs, 10 * DAY, 'the first window: the API limit');
  clock.advance(MIN);
  await planSource(deps(ledger, queue, clock), source);
  slices = await live(ledger, source.id);
  assert.deepEqual(slices.map((s) => [s.startMs, s.endMs]), [[T0 - 15 * DAY, T0 - 5 * DAY], [T0 - 5 * DAY, T0 + MIN - 10 * MIN]], 'the rest of the range in one slice, contiguous');
  assert.equal((await drainJobs(queueClient)).length, 2, 'one job per slice');
});

for (const [name, rowsPerDay, sliceIntervals] of [['a quiet tenant (30,000 rows a day)', 30_000, 2], ['a busy tenant (5M rows a day)', 5_000_000, 1]] as const) {
  test(`${name} gets live slices of ${sliceIntervals} poll interval(s) and keeps the lag target however the timer runs drift`, async () => {
    const { ledger, queue, clock } = await setup();
    const source = sourceFixture({ id: `lag${sliceIntervals}`, start: { kind: 'relative', text: '-1h@h' }, sliceMs: 10 * DAY });
    const density = rowsPerDay / DAY;
    await planSource(deps(ledger, queue, clock), source);
    await finishLive(ledger, source.id, density, clock.now());
    // Two hours of timer runs a minute apart, each a few seconds late or early (up to 4 s), now and
    // then 20 s late: the live edge after each run and every slice it plans stay within the target.
    const jitter = [0, 3_000, -2_000, 4_000, 20_000, -4_000, 1_000, 0];
    let ticks = 0;
    const before = (await live(ledger, source.id)).length;
    for (let minute = 1; minute <= 120; minute++) {
      clock.set(T0 + minute * MIN + jitter[minute % jitter.length]!);
      await planSource(deps(ledger, queue, clock), source);
      ticks++;
      const cursor = (await ledger.getCursor(source.id))!;
      const edge = Math.floor((clock.now() - source.collectionDelayMs) / 1000) * 1000;
      assert.ok(edge - cursor.scheduledUntil < sliceIntervals * MIN, `after the run at +${minute} min the cursor is ${(edge - cursor.scheduledUntil) / 1000} s behind the live edge`);
      await finishLive(ledger, source.id, density, clock.now());
    }
    const planned = (await live(ledger, source.id)).slice(before);
    // No slice is longer than the lag target allows (2 intervals) beyond what a late run adds.
    for (const s of planned) assert.ok(s.endMs - s.startMs <= 2 * MIN + 24_000, `slice of ${(s.endMs - s.startMs) / 1000} s`);
    // One slice every `sliceIntervals` runs; a run 20 s late followed by one 4 s early (once in 8)
    // makes the early one wait (its window would be 36 s), which the lag target allows.
    const expected = ticks / sliceIntervals;
    assert.ok(planned.length <= expected * 1.05 && planned.length >= expected * 0.85, `${planned.length} live slices in ${ticks} runs (about ${expected})`);
  });
}

test('the settle planner reads no live slice again: a bucket\'s live read comes from the checkpoint, and skips the levels it should', async () => {
  const { ledger, queue, clock } = await setup();
  const source = sourceFixture({ id: 'late', start: { kind: 'relative', text: '-4h@h' }, sliceMs: 10 * DAY, settleRereadsMs: [HOUR, 2 * HOUR], settleBucketMs: HOUR });
  const density = 30_000 / DAY;
  let liveRead = 0;
  const counting = Object.assign(Object.create(Object.getPrototypeOf(ledger)), ledger, {
    listSlices: async function* (id: string, opts?: Parameters<Ledger['listSlices']>[1]) {
      for await (const s of ledger.listSlices(id, opts)) {
        if (s.kind === 'live') liveRead++;
        yield s;
      }
    },
  }) as Ledger;
  // A cold start (one 4-hour slice read 3 minutes after it was planned: late for its first buckets),
  // then 4 hours of runs a minute apart whose live slices are read at once.
  await planSource(deps(counting, queue, clock), source);
  await finishLive(ledger, source.id, density, T0 + 3 * MIN);
  for (let minute = 1; minute <= 240; minute++) {
    clock.set(T0 + minute * MIN);
    await planSource(deps(counting, queue, clock), source);
    await finishLive(ledger, source.id, density, clock.now());
    // Re-reads are done at once too (no request), so the next level can follow.
    for await (const r of ledger.listSlices(source.id)) {
      if (r.kind === 'rescan' && r.state !== 'done') assert.ok(await ledger.swapSlice({ ...r, state: 'done', requests: 1, updatedAt: clock.now() }));
    }
  }
  const slices = await live(ledger, source.id);
  assert.ok(liveRead <= 2 * slices.length + 10, `${liveRead} live slice entities read over 241 runs for ${slices.length} live slices: each is read by the checkpoint's fold (twice at most), never again by the settle planner`);
  // Each re-read level was skipped exactly when the bucket's latest live read came at or after its age.
  const rescans = [];
  for await (const r of ledger.listSlices(source.id)) if (r.kind === 'rescan') rescans.push(r);
  let skipped = 0;
  for (const r of rescans) {
    const level = Number(/^R(\d)-/.exec(r.id)![1]);
    const bucket = Math.floor(r.startMs / HOUR) * HOUR;
    const readAt = Math.max(...slices.filter((l) => l.endMs > bucket && l.startMs < bucket + HOUR).map((l) => l.updatedAt));
    const wasSkipped = r.requests === 0;
    if (wasSkipped) skipped++;
    assert.equal(wasSkipped, readAt >= bucket + HOUR + source.settleRereadsMs[level]!, `${r.id}: skipped ${wasSkipped}, live read at +${(readAt - bucket - HOUR) / MIN} min after the bucket closed`);
  }
  assert.ok(skipped > 0 && skipped < rescans.length, `some re-reads skipped (${skipped} of ${rescans.length}), others not`);
});

test('a watermark moved by hand into a 10-day slice finds the slice that covers it, however far back it starts: no hole is filled, nothing is read twice', async () => {
  const { ledger, queue, queueClient, clock } = await setup();
  const source = sourceFixture({ id: 'straddle', start: { kind: 'relative', text: '-12d' }, sliceMs: 10 * DAY });
  // The cold start: one 10-day slice, then the rest; both read.
  await planSource(deps(ledger, queue, clock), source);
  clock.advance(MIN);
  await planSource(deps(ledger, queue, clock), source);
  await finishLive(ledger, source.id, 0.001, clock.now());
  const [long] = await live(ledger, source.id);
  assert.equal(long!.endMs - long!.startMs, 10 * DAY);
  // A run that plans folds them into the checkpoint (density, coverage checked up to the cursor).
  clock.advance(2 * MIN);
  await planSource(deps(ledger, queue, clock), source);
  await finishLive(ledger, source.id, 0.001, clock.now());
  await drainJobs(queueClient);
  // An operator moves the watermark back to 7 days into the long slice (a restore, a manual edit).
  const inside = long!.startMs + 7 * DAY;
  await ledger.health.updateEntity({ partitionKey: source.id, rowKey: 'health', completedUntil: inside }, 'Merge');
  clock.advance(MIN);
  await planSource(deps(ledger, queue, clock), source);
  const slices = await live(ledger, source.id);
  for (let i = 1; i < slices.length; i++) assert.ok(slices[i]!.startMs >= slices[i - 1]!.endMs, `${slices[i]!.id} overlaps ${slices[i - 1]!.id}: its rows would be read twice`);
  assert.ok(!(await drainJobs(queueClient)).some((j) => j.sliceId.startsWith(liveSliceId(inside, long!.endMs).slice(0, 16))), 'no hole slice was enqueued inside the long slice');
});

test('the timer step sets the gauges from what the planning read: a run that planned reads only the budget, a run with nothing due the health row and the budget', async () => {
  const { storage, ledger, queue, queueClient, clock } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-20m' } });
  const budgetTable = storage.table(uniqueName('b'));
  await budgetTable.createTable();
  const budget = new TenantBudget(budgetTable, clock, { limit: 100 });
  await budget.acquire(source.tenantId, 'live');
  const calls: Record<string, number> = { getHealth: 0, getCursor: 0, usage: 0 };
  const gaugeLedger = {
    getHealth: (id: string) => { calls.getHealth++; return ledger.getHealth(id); },
    getCursor: (id: string) => { calls.getCursor++; return ledger.getCursor(id); },
  };
  const countedBudget = { usage: (t: string) => { calls.usage++; return budget.usage(t); } };
  const telemetry = new MemoryTelemetry();
  const gaugeDeps = { ledger: gaugeLedger, clock, telemetry, budget: countedBudget };
  const gauge = (name: string) => telemetry.gauges.get(`${name} ${JSON.stringify({ source: source.id })}`)?.value;

  // The timer's span (functions/plan.ts) covers the planning only once something is due.
  const spans: string[] = [];
  const inSpan = async (run: () => Promise<PlanOutcome>) => { const o = await run(); spans.push(o.outcome); return o; };
  const first = await planSourceTick({ ...deps(ledger, queue, clock), inSpan }, gaugeDeps, source);
  assert.equal(first.outcome?.outcome, 'planned');
  assert.deepEqual(spans, ['planned'], 'the run that planned ran in the span');
  assert.deepEqual(calls, { getHealth: 0, getCursor: 0, usage: 1 }, 'a run that planned read the cursor and the health row already');
  const cursor = (await ledger.getCursor(source.id))!;
  assert.equal(gauge('mtc.source.planning_lag_seconds'), (T0 - cursor.scheduledUntil) / 1000, 'planning lag from the cursor as the run left it, not as it found it');
  assert.equal(gauge('mtc.source.lag_seconds'), (T0 - cursor.startMs) / 1000);
  assert.equal(gauge('mtc.budget.utilisation'), Math.round((1 / budget.options.allowed) * 1000) / 1000);
  await drainJobs(queueClient);

  // A page job finishes meanwhile; the next run (a few seconds later) has nothing due.
  await ledger.advanceWatermark(source.id, cursor.startMs + 5 * 60_000);
  await budget.acquire(source.tenantId, 'live');
  clock.advance(10_000);
  const second = await planSourceTick({ ...deps(ledger, queue, clock), inSpan }, gaugeDeps, source);
  assert.equal(second.outcome?.outcome, 'not-due');
  assert.deepEqual(spans, ['planned'], 'a run with nothing due records no span');
  assert.deepEqual(calls, { getHealth: 1, getCursor: 0, usage: 2 }, 'a run with nothing due read only the cursor: the gauges read the health row and the budget');
  assert.equal(gauge('mtc.source.lag_seconds'), (clock.now() - (cursor.startMs + 5 * 60_000)) / 1000, 'the lag is read fresh, after the page job that finished');
  assert.equal(gauge('mtc.budget.utilisation'), Math.round((2 / budget.options.allowed) * 1000) / 1000, 'the budget a page job used since the last run that planned');

  // A run that failed: its reads may be stale, so the gauges read everything again.
  const failing = { ...deps(ledger, queue, clock), ledger: new Proxy(ledger, { get: (t, p) => (p === 'getCursor' ? () => Promise.reject(new Error('table unavailable')) : Reflect.get(t, p)) }) };
  const third = await planSourceTick(failing, gaugeDeps, source);
  assert.match(String((third.planError as Error)?.message), /table unavailable/);
  assert.deepEqual(calls, { getHealth: 2, getCursor: 1, usage: 3 });
});

test('a new source\'s first planning run reads nothing it wrote: the cursor and the health row it creates are not read back, the run index is read once, a cursor with no slices has none read', async () => {
  const meter = await startStorageMeter(await testStorage());
  try {
    const storage = storageFromEnvironment({ JobsStorage: meter.connectionString });
    const prefix = uniqueName('t');
    const ledger = new Ledger(storage, prefix);
    const queueName = uniqueName('q');
    await storage.ensure(ledger.tableNames(), [queueName]);
    const clock = new ManualClock(T0);
    const queue = new JobQueue(storage.queue(queueName), clock);
    const source = sourceFixture({ start: { kind: 'relative', text: '-20m' } });
    meter.reset();
    const outcome = await planSource(deps(ledger, queue, clock), source);
    assert.equal(outcome.outcome, 'planned');
    const slices = (outcome as { slices: number }).slices;
    assert.ok(slices >= 1);
    const by = Object.fromEntries(Object.entries(meter.byResource()).map(([k, n]) => [k.split(prefix).join(''), n]));
    assert.deepEqual(by, {
      'table read-entity cursors': 1, // the miss that makes it new
      'table write-entity cursors': 3, // create; the planning swap (which also clears the run hint: no run is active); the outbox clear
      'table read-entity health': 1, // the state change's compare-and-swap read (a miss: no preflight ran)
      'table write-entity health': 1, // Initialized
      'table read-entity runs': 1, // the run index, once for the sweep and the resume
      'table write-entity slices': slices,
      [`queue put-message ${queueName}`]: slices,
    }, 'a second read of the cursor, the health row or the run index, or any read of slices, is a regression (issue 19: the first step of 1000 new sources)');
    // What it wrote is what a fresh read finds: the hint cleared with the planning swap, the outbox empty.
    const cursor = (await ledger.getCursor(source.id))!;
    assert.equal(cursor.runsHint, 0);
    assert.deepEqual(cursor.pending, []);
    assert.equal((await ledger.getHealth(source.id))?.state, 'Initialized');
    // The next run reads the cursor (a stored density says whether anything is due) and no more when nothing is.
    meter.reset();
    clock.advance(10_000);
    assert.equal((await planSource(deps(ledger, queue, clock), source)).outcome, 'not-due');
    assert.deepEqual(Object.fromEntries(Object.entries(meter.byResource()).map(([k, n]) => [k.split(prefix).join(''), n])), { 'table read-entity cursors': 1 });
  } finally {
    await meter.close();
  }
});

test('the run hint cleared with the planning swap stays set when a backfill run is admitted between the planner\'s cursor read and that swap', async () => {
  const { ledger, queue, clock } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-20m' } });
  // A cursor whose hint is set (a new cursor starts with it) and nothing planned yet.
  assert.ok(await ledger.createCursor(source.id, T0 - 20 * 60_000, 0));
  let admitted = false;
  const racing = Object.assign(Object.create(Object.getPrototypeOf(ledger)), ledger, {
    swapCursor: async (c: Parameters<Ledger['swapCursor']>[0], patch: Parameters<Ledger['swapCursor']>[1]) => {
      // Admission's unconditional merge of the hint lands just before the planner's swap.
      if (!admitted && patch.runsHint === 0) { admitted = true; await ledger.hintRuns(source.id, clock.now()); }
      return ledger.swapCursor(c, patch);
    },
  }) as Ledger;
  const outcome = await planSource(deps(racing, queue, clock), source);
  assert.ok(admitted, 'the planning swap carried the hint clear');
  assert.equal(outcome.outcome, 'lost-race', 'the swap with the clear loses to the admission');
  assert.ok(((await ledger.getCursor(source.id))?.runsHint ?? 0) > 0, 'the hint stays for the next run');
  // The next run reads the index again, finds no run and clears the hint with its planning swap.
  const again = await planSource(deps(ledger, queue, clock), source);
  assert.equal(again.outcome, 'planned');
  assert.equal((await ledger.getCursor(source.id))?.runsHint, 0);
});
