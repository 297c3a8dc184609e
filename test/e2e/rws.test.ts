/**
 * End to end over the legacy RWS API: the same exactness test as Graph (test/e2e/pipeline.test.ts),
 * through the same planner, ledger and page worker, with only the MessageTraceClient differing.
 * Two sources read the same simulated tenant, one asking for JSON light (ISO dates, some without
 * `Z`) and one for verbose JSON (`/Date(ms)/`, `d.results`, `d.__next`); each must deliver every
 * ground-truth row exactly once, normalised to the Graph row shape, with the legacy record as `raw`.
 * The source is configured as a GCC High tenant would be, with the endpoints pointed at the simulator.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runOnce, summarise, SIMULATOR_SECRET_ENV, type LocalRun } from '../../local/run';
import { ManualClock } from '../../shared/time/clock';
import { rowKey } from '../../shared/model/row';
import { getRuntime } from '../../shared/runtime';
import { startReceiver, compareDelivery, type Receiver } from '../support/receiver';
import { pollLive, startTestRun } from '../support/local-run';

const DAY = 24 * 3600_000;
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const START = T0 - DAY;

let run: LocalRun;
let receiver: Receiver;
const clock = new ManualClock(T0);

before(async () => {
  receiver = await startReceiver();
  run = await startTestRun(clock, { tables: 'rws', queue: 'jobs' }, {
    simulatorOptions: {
      seed: 11,
      tenants: [{ rowsPerDay: 20_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 4 * 60_000, distribution: 'uniform' } } }],
      rws: { nextLink: 'relative' },
    },
    configDoc: (sim) => {
      const source = (id: string, format: 'light' | 'verbose') => ({
        id,
        tenantId: sim.tenants[0]!.tenantId,
        cloud: 'gcchigh',
        api: 'rws',
        endpoints: { authorityHost: sim.authorityHost },
        rws: { reportUrl: `${sim.rwsBaseUrl}/MessageTrace`, scope: 'https://outlook.office365.com/.default', format },
        auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: `env:${SIMULATOR_SECRET_ENV}` },
        start: new Date(START).toISOString(),
        collectionDelay: '10m',
        sliceLength: '6h',
        fields: { shape: format },
        destinations: ['siem'],
      });
      return {
        sources: [source('light', 'light'), source('verbose', 'verbose')],
        destinations: [{ id: 'siem', type: 'http', url: receiver.url, gzip: true, allowInsecureLoopback: true, maxBatchRecords: 2000 }],
      };
    },
  });
});

after(async () => {
  await run?.stop();
  await receiver?.close();
});

test('a day of RWS in both JSON shapes reaches the receiver exactly once each, in the Graph row shape', async () => {
  await runOnce(run, { timeoutMs: 120_000 });
  await pollLive(run, clock, 3);
  const rt = await getRuntime();
  const sim = run.simulator!;
  const tenantId = sim.tenants[0]!.tenantId;
  for (const shape of ['light', 'verbose']) {
    const health = await rt.ledger.getHealth(shape);
    const completedUntil = health!.completedUntil;
    assert.equal(completedUntil, Math.floor((clock.now() - 10 * 60_000) / 1000) * 1000, `${shape}: complete up to now minus the delay`);
    const truth = sim.groundTruth(tenantId, START, completedUntil, { asOf: clock.now() });
    const events = receiver.events.filter((e) => e.sourceId === shape && !e.update);
    const result = compareDelivery(truth.map((r) => rowKey(tenantId, r)), events.map((e) => rowKey(e.tenantId, e.row)));
    console.log(`rws ${shape}: expected=${result.expected} delivered=${result.delivered} missing=${result.missing} duplicate=${result.duplicate} unexpected=${result.unexpected}`);
    assert.ok(result.expected > 15_000, `about 20k rows expected, got ${result.expected}`);
    assert.equal(result.missing, 0);
    assert.equal(result.duplicate, 0);
    assert.equal(result.unexpected, 0);

    const byKey = new Map(truth.map((r) => [rowKey(tenantId, r), r]));
    for (const e of events.slice(0, 300)) {
      assert.equal(e.api, 'rws');
      assert.equal(e.shape, shape);
      const t = byKey.get(rowKey(tenantId, e.row))!;
      assert.equal(Date.parse(e.row.receivedDateTime), Date.parse(t.receivedDateTime), 'the instant survives either date form');
      assert.match(e.row.receivedDateTime, /Z$/);
      assert.equal(e.row.subject, t.subject);
      assert.equal(e.row.senderAddress, t.senderAddress);
      // The status as of the read: a row still pending then may be final by now (re-reads send the change).
      assert.ok(e.row.status === t.status || /^(pending|gettingstatus)$/i.test(String(e.row.status)), `status ${String(e.row.status)} vs ${t.status}`);
      const raw = e.raw as Record<string, unknown>;
      assert.equal(raw.MessageTraceId, t.id, 'the legacy record is forwarded as raw');
      assert.equal(raw.RecipientAddress, t.recipientAddress);
      assert.equal('__metadata' in raw, false);
      if (shape === 'verbose') assert.match(String(raw.Received), /^\/Date\(\d+\)\/$/);
    }
  }
  const summary = await summarise();
  assert.equal(summary.parked, 0);
  assert.equal(sim.stats(tenantId).listRequests, 0, 'no Graph request was made');
});
