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

async function call(method: string, path: string, body?: unknown, opts: { key?: string | null; raw?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
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
