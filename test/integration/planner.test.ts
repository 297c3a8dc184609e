import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueClient } from '@azure/storage-queue';
import { Ledger, liveSliceId, newSlice } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { JobQueue, decodePageJob } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource, OUTBOX_STALE_MS } from '../../shared/planning/planner';
import { silentLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { pruneLedger, LEDGER_RETENTION_MS } from '../../shared/recovery';
import { sourceFixture } from '../support/fixtures';
import { testStorage, uniqueName } from '../support/azurite';

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
