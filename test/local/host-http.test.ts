import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalHost, type LocalHost } from '../../local/host';
import { testStorage, uniqueName } from '../support/azurite';
import { fixtureEntry, logCollector, waitFor } from './helpers';
import { probe } from './fixtures/probe';

const KEY = 'test-function-key-123';
const logs = logCollector();
let host: LocalHost;

before(async () => {
  host = await createLocalHost({
    entry: fixtureEntry,
    http: { port: 0 },
    functionKey: KEY,
    enableTimers: false,
    log: logs.log,
    env: { JobsStorage: await testStorage(), WORK_QUEUE: uniqueName('httpwork'), OUT_QUEUE: uniqueName('httpout'), TICK_SCHEDULE: '0 0 * * * *' },
  });
  await host.start();
});

after(async () => {
  await host?.stop();
});

test('the host lists every registered function with its trigger and resolved binding', () => {
  const byName = Object.fromEntries(host.functions.map((f) => [f.name, f]));
  assert.equal(byName.tick?.trigger, 'timer');
  assert.equal(byName.tick?.binding.schedule, '0 0 * * * *');
  assert.equal(byName.work?.trigger, 'queue');
  assert.equal(byName.backfill?.trigger, 'http');
  assert.equal(byName.backfill?.binding.authLevel, 'function');
  assert.match(host.httpBaseUrl, /^http:\/\/127\.0\.0\.1:\d+\/api$/);
  assert.equal(host.functionKey, KEY);
});

test('appStart hooks run when the host starts', () => {
  assert.equal(probe.appStarted, 1);
});

test('a function-level route with a key gets params, query, headers and body, and its response is written back', async () => {
  const res = await fetch(`${host.httpBaseUrl}/sources/tenant-a/backfill/run-9?from=2026-01-01&x=1`, {
    method: 'POST',
    headers: { 'x-functions-key': KEY, 'x-custom': 'hello', 'content-type': 'application/json' },
    body: JSON.stringify({ days: 3 }),
  });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('x-run'), 'run-9');
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(await res.json(), {
    functionName: 'backfill',
    method: 'POST',
    params: { source: 'tenant-a', runId: 'run-9' },
    query: { from: '2026-01-01', x: '1', },
    header: 'hello',
    body: { days: 3 },
  });
});

test('an optional route parameter may be left out, and the key may come in the code query parameter', async () => {
  const res = await fetch(`${host.httpBaseUrl}/sources/tenant-b/backfill?code=${KEY}`, { method: 'POST' });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('x-run'), 'new');
  const body = (await res.json()) as { params: Record<string, string>; body: unknown };
  assert.deepEqual(body.params, { source: 'tenant-b' });
  assert.equal(body.body, null);
});

test('authLevel function answers 401 without the key or with a wrong key, with a JSON body naming the key', async () => {
  const none = await fetch(`${host.httpBaseUrl}/sources/a/backfill`, { method: 'POST' });
  assert.equal(none.status, 401);
  const noneBody = (await none.json()) as { error: string; missing: string; message: string };
  assert.equal(noneBody.error, 'Unauthorized');
  assert.equal(noneBody.missing, 'x-functions-key');
  assert.match(noneBody.message, /needs the function key: send it in the x-functions-key header/);
  const wrong = await fetch(`${host.httpBaseUrl}/sources/a/backfill`, { method: 'POST', headers: { 'x-functions-key': 'nope-nope-nope' } });
  assert.equal(wrong.status, 401);
  const wrongText = await wrong.text();
  assert.match(wrongText, /is not this host's key/);
  assert.ok(!wrongText.includes('nope-nope-nope'), 'the key given is not echoed');
});

test('a method the function does not accept, an unknown route and a path outside the route prefix answer 404', async () => {
  const wrongMethod = await fetch(`${host.httpBaseUrl}/sources/a/backfill`, { headers: { 'x-functions-key': KEY } });
  assert.equal(wrongMethod.status, 404);
  const unknown = await fetch(`${host.httpBaseUrl}/nothing-here`);
  assert.equal(unknown.status, 404);
  const noPrefix = await fetch(host.httpBaseUrl.replace(/\/api$/, '/status'));
  assert.equal(noPrefix.status, 404);
});

test('an anonymous route needs no key, matches case-insensitively, and returns the handler body and headers', async () => {
  const res = await fetch(`${host.httpBaseUrl}/STATUS`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain');
  assert.equal(await res.text(), 'fine');
});

test('a handler that throws answers 500, is logged with the function name, and the host keeps serving', async () => {
  const before = host.stats().invocations.boom!.failed;
  const res = await fetch(`${host.httpBaseUrl}/boom`);
  assert.equal(res.status, 500);
  assert.equal(await res.text(), '');
  assert.equal(host.stats().invocations.boom!.failed, before + 1);
  assert.ok(logs.lines.some((l) => l.level === 'error' && l.data?.function === 'boom' && /boom on purpose/.test(l.message)));
  assert.equal((await fetch(`${host.httpBaseUrl}/status`)).status, 200);
});

test('the admin API runs a timer function on request with the key', async () => {
  probe.reset();
  const base = host.httpBaseUrl.replace(/\/api$/, '');
  assert.equal((await fetch(`${base}/admin/functions/tick`, { method: 'POST' })).status, 401);
  const res = await fetch(`${base}/admin/functions/tick`, { method: 'POST', headers: { 'x-functions-key': KEY, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 202);
  await waitFor(() => probe.of('tick').length === 1, 'the timer to run');
});

test('function keys never appear in the host log', () => {
  assert.ok(!logs.lines.some((l) => JSON.stringify(l).includes(KEY)));
});
