/**
 * Issue 15 ("a job timeout"): the local host enforces host.json `functionTimeout` as Azure does: an
 * invocation that runs past it fails with Azure's message, and its queue message is retried.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { createLocalHost, type LocalHost } from '../../local/host';
import { testStorage, uniqueName } from '../support/azurite';
import { b64, fixtureEntry, fixtureHostJson, logCollector, waitFor } from './helpers';

const logs = logCollector();
let host: LocalHost;
let work: QueueClient;

before(async () => {
  const storage = await testStorage();
  const workQueue = uniqueName('work');
  work = new QueueClient(storage, workQueue);
  const hostJson = JSON.parse(await readFile(fixtureHostJson, 'utf8')) as Record<string, unknown>;
  const dir = await mkdtemp(path.join(tmpdir(), 'mtc-timeout-'));
  const hostJsonPath = path.join(dir, 'host.json');
  await writeFile(hostJsonPath, JSON.stringify({ ...hostJson, functionTimeout: '00:00:01' }));
  host = await createLocalHost({
    entry: fixtureEntry, hostJsonPath, http: { port: 0 }, enableTimers: false, log: logs.log,
    env: { JobsStorage: storage, WORK_QUEUE: workQueue, OUT_QUEUE: uniqueName('out'), TICK_SCHEDULE: '0 */5 * * * *' },
  });
  await host.start();
});

after(async () => {
  await host?.stop();
});

test('an invocation past functionTimeout fails with Azure\'s message and counts as failed', async () => {
  await work.sendMessage(b64(JSON.stringify({ kind: 'slow', ms: 2500 })));
  await waitFor(() => host.stats().invocations.work!.failed >= 1, 'the slow invocation to fail', 15_000);
  assert.ok(logs.lines.some((l) => /Timeout value of 00:00:01 exceeded by function 'work'/.test(l.message)), logs.lines.map((l) => l.message).join('\n'));
  const fast = await work.sendMessage(b64(JSON.stringify({ kind: 'ok', id: 'quick' })));
  assert.ok(fast.messageId);
  await waitFor(() => host.stats().invocations.work!.succeeded >= 1, 'a quick invocation to succeed', 15_000);
});
