import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueClient } from '@azure/storage-queue';
import { AcceleratedClock } from '../../shared/time/clock';
import { createLocalHost, type LocalHost } from '../../local/host';
import { testStorage, uniqueName } from '../support/azurite';
import { b64, fixtureEntry, fixtureHostJson, logCollector, waitFor } from './helpers';
import { probe } from './fixtures/probe';

// Clock time runs 10x real time: host.json visibilityTimeout 00:00:10 becomes 1 s of real time.
const clock = new AcceleratedClock(Date.parse('2026-03-01T00:00:00Z'), 10);
const logs = logCollector();
let host: LocalHost;
let work: QueueClient;
let poison: QueueClient;
let out: QueueClient;

before(async () => {
  const storage = await testStorage();
  const workQueue = uniqueName('work');
  const outQueue = uniqueName('out');
  work = new QueueClient(storage, workQueue);
  poison = new QueueClient(storage, `${workQueue}-poison`);
  out = new QueueClient(storage, outQueue);
  host = await createLocalHost({
    entry: fixtureEntry,
    hostJsonPath: fixtureHostJson,
    clock,
    http: { port: 0 },
    enableTimers: false,
    log: logs.log,
    env: { JobsStorage: storage, WORK_QUEUE: workQueue.toUpperCase(), OUT_QUEUE: outQueue, TICK_SCHEDULE: '0 */5 * * * *' },
  });
  await host.start();
});

after(async () => {
  await host?.stop();
});

test('the queue trigger resolves %WORK_QUEUE% from app settings, lower-cases it and creates the queue', async () => {
  const fn = host.functions.find((f) => f.name === 'work');
  assert.equal(fn?.trigger, 'queue');
  assert.equal(fn?.binding.queueName, work.name);
  assert.equal(fn?.binding.connection, 'JobsStorage');
  assert.equal(await work.exists(), true);
});

test('a base64 JSON message reaches the handler as an object with trigger metadata, and is deleted after success', async () => {
  probe.reset();
  const sent = await work.sendMessage(b64(JSON.stringify({ kind: 'ok', id: 'a1' })));
  await host.drainUntilIdle({ timeoutMs: 10_000 });
  const [event] = probe.of('work');
  assert.ok(event, 'the handler ran');
  assert.deepEqual(event.message, { kind: 'ok', id: 'a1' });
  assert.equal(event.functionName, 'work');
  const meta = event.meta as Record<string, unknown>;
  assert.equal(meta.id, sent.messageId);
  assert.equal(meta.dequeueCount, 1);
  assert.equal(typeof meta.popReceipt, 'string');
  for (const k of ['insertionTime', 'expirationTime', 'nextVisibleTime']) {
    assert.ok(!Number.isNaN(Date.parse(meta[k] as string)), `${k} is a timestamp`);
  }
  assert.deepEqual(meta.queueTrigger, { kind: 'ok', id: 'a1' });
  assert.equal((await work.getProperties()).approximateMessagesCount, 0);
  assert.ok(logs.lines.some((l) => l.message === 'work got a message' && l.data?.function === 'work'), 'context.log reaches the host log with the function name');
});

test('a base64 message that is not JSON reaches the handler as a string', async () => {
  probe.reset();
  await work.sendMessage(b64('plain text, not json'));
  await host.drainUntilIdle({ timeoutMs: 10_000 });
  const [event] = probe.of('work');
  assert.equal(event?.message, 'plain text, not json');
  assert.equal(event?.type, 'string');
});

test('a message that fails once is retried after visibilityTimeout and then deleted', async () => {
  probe.reset();
  const before = host.stats().invocations.work!;
  await work.sendMessage(b64(JSON.stringify({ kind: 'fail-once', id: 'retry-1' })));
  await host.drainUntilIdle({ timeoutMs: 15_000 });
  const attempts = probe.of('work');
  assert.deepEqual(attempts.map((a) => (a.meta as { dequeueCount: number }).dequeueCount), [1, 2]);
  // visibilityTimeout 10 s of clock time = 1 s of real time at 10x.
  assert.ok(attempts[1]!.at - attempts[0]!.at >= 900, `retry came ${attempts[1]!.at - attempts[0]!.at} ms after the failure`);
  const now = host.stats().invocations.work!;
  assert.equal(now.failed - before.failed, 1);
  assert.equal(now.succeeded - before.succeeded, 1);
});

test('a message that keeps failing moves unchanged to <queue>-poison after maxDequeueCount attempts', async () => {
  probe.reset();
  const poisonedBefore = host.stats().movedToPoison;
  const body = b64(JSON.stringify({ kind: 'fail', id: 'p1' }));
  await work.sendMessage(body);
  await host.drainUntilIdle({ timeoutMs: 20_000 });
  assert.deepEqual(probe.of('work').map((a) => (a.meta as { dequeueCount: number }).dequeueCount), [1, 2, 3]);
  const peeked = await poison.peekMessages({ numberOfMessages: 32 });
  assert.ok(peeked.peekedMessageItems.some((m) => m.messageText === body), 'the poison queue holds the original body');
  assert.equal(host.stats().movedToPoison - poisonedBefore, 1);
  assert.ok(logs.lines.some((l) => l.level === 'error' && l.data?.function === 'work' && /failed on purpose/.test(l.message)), 'the failure is logged with the function name');
});

test('a message that is not valid base64 fails binding on every attempt and goes to poison without reaching the handler', async () => {
  probe.reset();
  const poisonedBefore = host.stats().movedToPoison;
  const raw = JSON.stringify({ kind: 'ok', id: 'not-base64' });
  await work.sendMessage(raw);
  await host.drainUntilIdle({ timeoutMs: 20_000 });
  assert.equal(probe.of('work').length, 0);
  const peeked = await poison.peekMessages({ numberOfMessages: 32 });
  assert.ok(peeked.peekedMessageItems.some((m) => m.messageText === raw));
  assert.equal(host.stats().movedToPoison - poisonedBefore, 1);
  assert.ok(logs.lines.some((l) => /not valid base64/.test(l.message)));
});

test('at most batchSize + newBatchThreshold messages run at once, and all of them run', async () => {
  probe.reset();
  for (let i = 0; i < 8; i++) await work.sendMessage(b64(JSON.stringify({ kind: 'slow', ms: 150, id: `s${i}` })));
  await host.drainUntilIdle({ timeoutMs: 20_000 });
  assert.equal(probe.of('work').length, 8);
  // host.json: batchSize 2, newBatchThreshold 1.
  assert.ok(probe.maxRunning <= 3, `max concurrency was ${probe.maxRunning}`);
  assert.ok(probe.maxRunning >= 2, `messages of a batch run concurrently (max ${probe.maxRunning})`);
});

test('a queue output binding writes each array element as a base64 message to the output queue', async () => {
  probe.reset();
  await work.sendMessage(b64(JSON.stringify({ kind: 'forward' })));
  await host.drainUntilIdle({ timeoutMs: 10_000 });
  const got = await out.receiveMessages({ numberOfMessages: 32 });
  const texts = got.receivedMessageItems.map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as unknown);
  assert.deepEqual(texts.sort((a, b) => (a as { n: number }).n - (b as { n: number }).n), [{ n: 1 }, { n: 2 }]);
});

test('drainUntilIdle rejects with what is pending when the queue does not drain in time', async () => {
  probe.reset();
  await work.sendMessage(b64(JSON.stringify({ kind: 'slow', ms: 1500 })));
  await assert.rejects(host.drainUntilIdle({ timeoutMs: 300 }), /not idle after 300 ms/);
  await host.drainUntilIdle({ timeoutMs: 10_000 });
});

test('stop waits for the invocation in flight, which then completes its message', async () => {
  probe.reset();
  await work.sendMessage(b64(JSON.stringify({ kind: 'slow', ms: 500, id: 'last' })));
  await waitFor(() => probe.running > 0, 'the slow message to start');
  await host.stop();
  assert.equal(probe.running, 0);
  assert.equal(probe.of('work').length, 1);
  assert.equal((await work.getProperties()).approximateMessagesCount, 0);
});
