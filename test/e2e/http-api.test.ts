/**
 * The backfill and status HTTP API through the local Functions host (function keys, routes,
 * bodies), against the simulator and Azurite.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalRun } from '../../local/run';
import { ManualClock } from '../../shared/time/clock';
import { getRuntime } from '../../shared/runtime';
import { simulatorGraphSource, startTestRun } from '../support/local-run';
import { startReceiver, type Receiver } from '../support/receiver';

const DAY = 24 * 3600_000;
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const clock = new ManualClock(T0);
let run: LocalRun;
let receiver: Receiver;

before(async () => {
  receiver = await startReceiver();
  run = await startTestRun(clock, { tables: 'api', queue: 'jobs' }, {
    simulatorOptions: { seed: 3, tenants: [{ rowsPerDay: 20_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 60_000 } } }] },
    configDoc: (sim) => ({
      sources: [{
        id: 'fabrikam',
        ...simulatorGraphSource(sim),
        start: '-1h@h',
        sliceLength: '6h',
        destinations: ['siem'],
      }],
      destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
    }),
  });
});

after(async () => {
  await run?.stop();
  await receiver?.close();
});

async function call(method: string, path: string, body?: unknown, opts: { key?: string | null; raw?: string; contentType?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
  if (opts.key !== null) headers['x-functions-key'] = opts.key ?? run.host.functionKey;
  const res = await fetch(`${run.host.httpBaseUrl}${path}`, {
    method,
    headers,
    ...(opts.raw !== undefined ? { body: opts.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) as Record<string, unknown> : {} };
}

test('the API needs the function key, and the 401 says which key is missing', async () => {
  const r = await call('GET', '/status', undefined, { key: null });
  assert.equal(r.status, 401);
  assert.equal(r.body.missing, 'x-functions-key');
});

test('a backfill body of the wrong type names the expected type; a range wholly older than 90 days is refused as such', async () => {
  let r = await call('POST', '/sources/fabrikam/backfill', { start: true });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'start');
  assert.match(String(r.body.message), /must be a time: an ISO-8601 string .*epoch seconds \(a number\).*relative expression/);
  r = await call('POST', '/sources/fabrikam/backfill', { start: '-200d', end: '-120d' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'end');
  assert.match(String(r.body.message), /is wholly older than the 90 days of history/);
  assert.doesNotMatch(String(r.body.message), /using .* instead/);
});

test('a backfill starts with 202, runs to completion, and never moves the live cursor', async () => {
  await run.host.runTimer('plan');
  await run.host.drainUntilIdle();
  const rt = await getRuntime();
  const cursorBefore = await rt.ledger.getCursor('fabrikam');

  const started = await call('POST', '/sources/fabrikam/backfill', { start: new Date(T0 - 2 * DAY).toISOString(), end: '-1d' });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  // Cut by the observed row density: a day of this quiet tenant (about 4 pages) is one slice.
  assert.ok(Number(started.body.slicesTotal) >= 1);
  assert.match(String(started.body.statusUrl), /\/api\/sources\/fabrikam\/backfill\//);
  assert.equal(started.headers.get('location'), started.body.statusUrl);

  const overlapping = await call('POST', '/sources/fabrikam/backfill', { start: new Date(T0 - 1.5 * DAY).toISOString(), end: new Date(T0 - 1.2 * DAY).toISOString() });
  assert.equal(overlapping.status, 409);
  assert.equal(overlapping.body.runId, started.body.runId);

  await run.host.drainUntilIdle({ timeoutMs: 120_000 });
  const progress = await call('GET', `/sources/fabrikam/backfill/${String(started.body.runId)}`);
  assert.equal(progress.status, 200);
  assert.equal(progress.body.state, 'done');
  assert.equal(progress.body.done, started.body.slicesTotal);
  assert.equal(progress.body.parked, 0);
  const expectedRows = run.simulator!.countGroundTruth(run.simulator!.tenants[0]!.tenantId, T0 - 2 * DAY, T0 - DAY, { asOf: T0 });
  assert.equal(progress.body.rows, expectedRows);
  assert.ok(Number(progress.body.requests) >= 4);

  const cursorAfter = await rt.ledger.getCursor('fabrikam');
  assert.equal(cursorAfter!.scheduledUntil, cursorBefore!.scheduledUntil, 'the live cursor did not move');

  const status = await call('GET', '/status/fabrikam');
  assert.equal(status.status, 200);
  assert.equal(status.body.state, 'Collecting');
  assert.equal(status.body.completedUntil, new Date(cursorBefore!.scheduledUntil).toISOString());
  assert.equal(typeof status.body.lagSeconds, 'number');
  assert.ok(Array.isArray(status.body.runs) && (status.body.runs as unknown[]).length === 1);
  const all = await call('GET', '/status');
  assert.equal((all.body.sources as unknown[]).length, 1);
});

test('20 concurrent identical backfill POSTs through the host: one 202, nineteen 409 naming that run, every row delivered once', async () => {
  const range = { start: new Date(T0 - 3 * DAY).toISOString(), end: new Date(T0 - 2.5 * DAY).toISOString() };
  const answers = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/sources/fabrikam/backfill', range)));
  const started = answers.filter((a) => a.status === 202);
  assert.equal(started.length, 1, JSON.stringify(answers.map((a) => a.status)));
  assert.equal(answers.filter((a) => a.status === 409 && a.body.runId === started[0]!.body.runId).length, 19);

  await run.host.drainUntilIdle({ timeoutMs: 120_000 });
  const progress = await call('GET', `/sources/fabrikam/backfill/${String(started[0]!.body.runId)}`);
  assert.equal(progress.body.state, 'done');
  const [from, to] = [T0 - 3 * DAY, T0 - 2.5 * DAY];
  const inRange = receiver.events.filter((e) => {
    const at = Date.parse(String((e.row as { receivedDateTime?: string }).receivedDateTime));
    return !e.update && at >= from && at < to;
  });
  const ids = inRange.map((e) => e.eventId);
  const expected = run.simulator!.countGroundTruth(run.simulator!.tenants[0]!.tenantId, from, to, { asOf: clock.now() });
  assert.ok(expected > 1000);
  assert.equal(new Set(ids).size, expected, 'every row of the range delivered');
  assert.equal(ids.length, expected, 'and none twice');
});

test('a backfill body that is not sent as JSON gets 415 naming application/json, whatever the body holds', async () => {
  const valid = JSON.stringify({ start: '-2d', end: '-1d' });
  for (const contentType of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', null]) {
    const r = await call('POST', '/sources/fabrikam/backfill', undefined, { raw: valid, contentType });
    assert.equal(r.status, 415, `${String(contentType)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.field, 'content-type');
    assert.match(String(r.body.message), /application\/json/);
  }
  const ok = await call('POST', '/sources/fabrikam/replay', undefined, { raw: '{}', contentType: 'Application/JSON; charset=utf-8' });
  assert.equal(ok.status, 200, 'a JSON type with parameters, in any case, is JSON');
  const replay = await call('POST', '/sources/fabrikam/replay', undefined, { raw: '{}', contentType: 'text/plain' });
  assert.equal(replay.status, 415, 'the replay route checks it too');
});

test('absurd times get a 400 naming the field, never a 500', async () => {
  for (const [body, field] of [
    [{ start: '-99999999999d' }, 'start'],
    [{ start: '-2d', end: '-99999999999d' }, 'end'],
    [{ start: '-36500d'.repeat(30) }, 'start'],
    [{ start: '-2d', end: '+99999999999w' }, 'end'],
    [{ start: 1e300 }, 'start'],
    [{ start: -1 }, 'start'],
  ] as const) {
    const r = await call('POST', '/sources/fabrikam/backfill', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.field, field, JSON.stringify(body));
  }
});

test('a queue message that is not base64 is seen: in <queue>-poison-poison the sweep records it, status shows a sanitised excerpt and the queue depths', async () => {
  const rt = await getRuntime();
  const secret = 'Xy8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789';
  const poisonPoison = `${rt.queueName}-poison-poison`;
  // Where the host leaves it after failing to bind it five times on the page queue and five times on
  // the poison queue (that path: test/local/host-queue.test.ts, "not valid base64 ... goes to poison").
  await rt.storage.queue(poisonPoison).sendMessage(`not base64! <&> client_secret=${secret} ${secret}`);
  let status = await call('GET', '/status');
  assert.equal((status.body.queues as Record<string, number>)[poisonPoison], 1, 'status shows the message waiting');

  await run.host.runTimer('poisonSweep');
  status = await call('GET', '/status');
  assert.deepEqual(status.body.queues, { [rt.queueName]: 0, [`${rt.queueName}-poison`]: 0, [poisonPoison]: 0 });
  const poison = status.body.unattributedPoison as { reason: string; excerpt: string; queue: string }[];
  const entry = poison.find((p) => p.queue === poisonPoison);
  assert.ok(entry, JSON.stringify(poison));
  assert.match(entry.reason, /not base64/);
  const text = JSON.stringify(status.body);
  assert.ok(!text.includes(secret), entry.excerpt);
  assert.match(entry.excerpt, /not base64! <&> client_secret=\[redacted\] \[redacted 41 chars\]/);
});

test('bad backfill requests get a 400 that names the field, oversize bodies 413, unknown sources 404', async () => {
  let r = await call('POST', '/sources/fabrikam/backfill', undefined, { raw: '{"start": ' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'body');
  r = await call('POST', '/sources/fabrikam/backfill', { end: '-1d' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'start');
  r = await call('POST', '/sources/fabrikam/backfill', { start: 'last tuesday' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'start');
  r = await call('POST', '/sources/fabrikam/backfill', { start: '-2d', end: '+1d' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'end');
  r = await call('POST', '/sources/fabrikam/backfill', { start: '-2d', end: '-3d' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'end');
  r = await call('POST', '/sources/fabrikam/backfill', { start: '-2d', sauce: 1 });
  assert.equal(r.status, 400);
  assert.match(String(r.body.field), /sauce/);
  r = await call('POST', '/sources/fabrikam/backfill', { start: '-2d', source: 'other' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'source');
  r = await call('POST', '/sources/fabrikam/backfill', undefined, { raw: JSON.stringify({ start: '-2d', pad: 'x'.repeat(20_000) }) });
  assert.equal(r.status, 413);
  r = await call('POST', '/sources/nosuch/backfill', { start: '-2d' });
  assert.equal(r.status, 404);
  r = await call('GET', '/status/nosuch');
  assert.equal(r.status, 404);
});
