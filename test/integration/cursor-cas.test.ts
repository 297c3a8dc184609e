/**
 * The planner's cursor is one compare-and-swap on Azure Table Storage (Azurite): concurrent
 * writers holding the same etag, and planners racing for real with Promise.all, many times. Only
 * one may advance the cursor per round, and no slice may be planned (or enqueued) twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueueClient } from '@azure/storage-queue';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { JobQueue, decodePageJob } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource } from '../../shared/planning/planner';
import { silentLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { sourceFixture } from '../support/fixtures';
import { testStorage, uniqueName } from '../support/azurite';

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);

async function setup() {
  const storage = storageFromEnvironment({ JobsStorage: await testStorage() });
  const ledger = new Ledger(storage, uniqueName('cas'));
  const queueName = uniqueName('q');
  await storage.ensure(ledger.tableNames(), [queueName]);
  const clock = new ManualClock(T0);
  return { ledger, clock, queue: new JobQueue(storage.queue(queueName), clock), queueClient: storage.queue(queueName) };
}

async function drainJobs(q: QueueClient) {
  const jobs = [];
  for (;;) {
    const r = await q.receiveMessages({ numberOfMessages: 32 });
    if (!r.receivedMessageItems.length) return jobs;
    for (const m of r.receivedMessageItems) {
      jobs.push(decodePageJob(Buffer.from(m.messageText, 'base64').toString('utf8')));
      await q.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

test('swapCursor: of eight concurrent swaps with the same etag exactly one wins, fifty times in a row', async () => {
  const { ledger } = await setup();
  assert.ok(await ledger.createCursor('contoso', T0 - 3600_000, T0));
  for (let round = 0; round < 50; round++) {
    const cursor = (await ledger.getCursor('contoso'))!;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => ledger.swapCursor(cursor, { scheduledUntil: cursor.scheduledUntil + 1000 * (i + 1) })));
    const winners = results.flatMap((etag, i) => (etag !== undefined ? [i] : []));
    assert.equal(winners.length, 1, `round ${round}: winners ${JSON.stringify(winners)}`);
    const after = (await ledger.getCursor('contoso'))!;
    assert.equal(after.scheduledUntil, cursor.scheduledUntil + 1000 * (winners[0]! + 1), 'the stored cursor is the winner\'s');
    assert.equal(after.etag, results[winners[0]!], 'the winner got the new etag');
    // A swap with the old etag fails now.
    assert.equal(await ledger.swapCursor(cursor, { scheduledUntil: 0 }), undefined);
  }
});

test('four planners racing twenty times: one plans each round, no slice is planned or enqueued twice, slices stay contiguous', async () => {
  const { ledger, clock, queue, queueClient } = await setup();
  const source = sourceFixture({ start: { kind: 'relative', text: '-2h@h' }, pollIntervalMs: 60_000 });
  const deps = () => ({ ledger, queue, clock, log: silentLogger, telemetry: new MemoryTelemetry(), configHashOf: () => 'h1' });
  // First-page jobs of the slices a round planned (slices of earlier rounds that no worker ran are
  // re-enqueued by recovery as lost jobs; those are counted apart).
  const enqueued = new Map<string, number>();
  let relayedByRecovery = 0;
  const count = async () => {
    const known = new Set(enqueued.keys());
    for (const j of await drainJobs(queueClient)) {
      if (j.page !== 0) continue;
      if (known.has(j.sliceId)) relayedByRecovery++;
      else enqueued.set(j.sliceId, (enqueued.get(j.sliceId) ?? 0) + 1);
    }
  };
  let planned = 0;
  for (let round = 0; round < 20; round++) {
    const before = (await ledger.getCursor(source.id))?.scheduledUntil;
    const results = await Promise.all(Array.from({ length: 4 }, () => planSource(deps(), source)));
    const outcomes = results.map((r) => r.outcome);
    const winners = outcomes.filter((o) => o === 'planned').length;
    assert.equal(winners, 1, `round ${round}: exactly one planner plans (${outcomes.join(', ')})`);
    assert.ok(outcomes.every((o) => ['planned', 'lost-race', 'not-due', 'nothing-to-plan'].includes(o)), outcomes.join(', '));
    const after = (await ledger.getCursor(source.id))!;
    const winner = results.find((r) => r.outcome === 'planned')!;
    assert.equal(after.scheduledUntil, winner.scheduledUntil, `round ${round}: the cursor holds the winner's plan`);
    if (before !== undefined) assert.ok(after.scheduledUntil > before);
    assert.deepEqual(after.pending, [], 'the outbox is empty after the round');
    planned++;
    await count();
    clock.advance(5 * 60_000);
  }
  assert.equal(planned, 20);
  const twice = [...enqueued].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no slice was enqueued twice by the round that planned it');
  console.log(`planner race: 20 rounds x 4 planners, ${enqueued.size} slices, ${relayedByRecovery} later re-enqueues of unrun slices by recovery`);
  const slices = [];
  for await (const s of ledger.listSlices(source.id)) slices.push(s);
  assert.equal(slices.length, enqueued.size, 'one job per slice');
  slices.sort((a, b) => a.startMs - b.startMs);
  for (let i = 1; i < slices.length; i++) assert.equal(slices[i]!.startMs, slices[i - 1]!.endMs, 'contiguous, no overlap, no hole');
  assert.equal(slices[slices.length - 1]!.endMs, (await ledger.getCursor(source.id))!.scheduledUntil);
});
