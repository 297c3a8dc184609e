/**
 * End to end: the bundled simulator as the tenant, the real function handlers in the local
 * Functions host, real Azurite, and a local HTTP receiver as the SIEM. Three days of a tenant with
 * about 50k rows per day are collected (catch-up from the configured start, then live polls); the
 * receiver must hold exactly the ground-truth rows, each once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runOnce, summarise, type LocalRun } from '../../local/run';
import { ManualClock } from '../../shared/time/clock';
import { rowKey } from '../../shared/model/row';
import { getRuntime } from '../../shared/runtime';
import { startReceiver, compareDelivery, type Receiver } from '../support/receiver';
import { pollLive, simulatorGraphSource, startTestRun } from '../support/local-run';

const DAY = 24 * 3600_000;
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const START = T0 - 3 * DAY;

let run: LocalRun;
let receiver: Receiver;
const clock = new ManualClock(T0);

before(async () => {
  receiver = await startReceiver();
  run = await startTestRun(clock, { tables: 'e2e', queue: 'jobs' }, {
    simulatorOptions: {
      seed: 7,
      tenants: [{ rowsPerDay: 50_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 4 * 60_000, distribution: 'uniform' } } }],
    },
    configDoc: (sim) => ({
      sources: [{
        id: 'contoso',
        ...simulatorGraphSource(sim),
        start: new Date(START).toISOString(),
        collectionDelay: '10m',
        sliceLength: '6h',
        fields: { customer: 'contoso-mssp' },
        destinations: ['siem'],
      }],
      destinations: [{ id: 'siem', type: 'http', url: receiver.url, gzip: true, allowInsecureLoopback: true, maxBatchRecords: 2000 }],
    }),
  });
});

after(async () => {
  await run?.stop();
  await receiver?.close();
});

test('three days of a 50k rows/day tenant reach the receiver exactly once each', async () => {
  await runOnce(run, { timeoutMs: 240_000 });
  // Then live collection: a few polls as time moves on.
  await pollLive(run, clock, 6);
  const rt = await getRuntime();
  const health = await rt.ledger.getHealth('contoso');
  const completedUntil = health!.completedUntil;
  assert.equal(completedUntil, Math.floor((clock.now() - 10 * 60_000) / 1000) * 1000, 'collection is complete up to now minus the collection delay');

  const sim = run.simulator!;
  const tenantId = sim.tenants[0]!.tenantId;
  const truth = sim.groundTruth(tenantId, START, completedUntil, { asOf: clock.now() });
  const result = compareDelivery(truth.map((r) => rowKey(tenantId, r)), receiver.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row)));
  console.log(`e2e: expected=${result.expected} delivered=${result.delivered} missing=${result.missing} duplicate=${result.duplicate} unexpected=${result.unexpected}`);
  assert.ok(result.expected > 140_000, `about 150k rows expected, got ${result.expected}`);
  assert.equal(result.missing, 0);
  assert.equal(result.duplicate, 0);
  assert.equal(result.unexpected, 0);
  const ids = receiver.events.map((e) => e.eventId);
  assert.equal(new Set(ids).size, ids.length, 'no event (the same row in the same state) was sent twice');

  // Rows arrive unchanged inside the documented envelope.
  const byKey = new Map(truth.map((r) => [rowKey(tenantId, r), r]));
  for (const e of receiver.events.slice(0, 500)) {
    assert.equal(e.sourceId, 'contoso');
    assert.equal(e.tenantId, tenantId);
    assert.equal(e.api, 'graph/v1.0');
    assert.equal(e.customer, 'contoso-mssp');
    assert.match(e.eventId, /^[0-9a-f]{32}$/);
    const t = byKey.get(rowKey(tenantId, e.row))!;
    assert.equal(e.row.receivedDateTime, t.receivedDateTime);
    assert.equal(e.row.subject, t.subject);
    assert.equal(e.row.messageId, t.messageId);
  }
  assert.ok(receiver.requests.every((r) => r.headers['content-encoding'] === 'gzip'));

  const summary = await summarise();
  assert.equal(summary.parked, 0);
  assert.equal(summary.sources[0]!.destinations[0]!.rowsForwarded, result.delivered);
  const stats = sim.stats(tenantId);
  console.log(`e2e: requests=${summary.sources[0]!.requests} (simulator saw ${stats.listRequests} list requests, ${stats.throttled} throttled)`);
  assert.equal(stats.throttled, 0);
});
