/**
 * A page batch through the real handlers (functions/plan.ts, functions/page-worker.ts) in the
 * local Functions host: three quiet tenants' second timer run sends one batch message, and each of
 * its entries is its own `mtc.page` span (message id `<id>~<index>`), the child of its own source's
 * `mtc.plan` span, with every row delivered once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { registerInMemoryOtel, startFakeAppInsights } from './otel';
import type { LocalRun } from '../../local/run';
import { ManualClock } from '../../shared/time/clock';
import { forgetTelemetryClient } from '../../shared/telemetry-setup';
import { SPANS } from '../../shared/telemetry';
import { getRuntime } from '../../shared/runtime';
import { rowKey } from '../../shared/model/row';
import { startReceiver, type Receiver } from '../support/receiver';
import { drainWithClock, startTestRun } from '../support/local-run';
import type { Simulator } from '../../simulator';

const otel = registerInMemoryOtel();

const T0 = Date.UTC(2026, 11, 2, 9, 0, 0);
const START = T0 - 10 * 60_000;
const clock = new ManualClock(T0);
let run: LocalRun;
let sim: Simulator;
let receiver: Receiver;
let spans: ReadableSpan[] = [];

function drain(): Promise<void> {
  return drainWithClock(run, clock, { stepMs: 1000, timeoutMs: 60_000, quietMs: 300 });
}

before(async () => {
  assert.equal(startFakeAppInsights(), true);
  receiver = await startReceiver();
  run = await startTestRun(clock, { tables: 'bat', queue: 'batjobs' }, {
    simulatorOptions: { seed: 5, tenants: Array.from({ length: 3 }, () => ({ rowsPerDay: 6000, traffic: { visibilityDelay: { minMs: 0, maxMs: 0 } } })) },
    configDoc: (s) => {
      sim = s;
      return {
        sources: s.tenants.map((t, i) => {
          process.env[`MTC_BATCH_SECRET_${i}`] = t.clientSecret;
          return {
            id: `s${i}`, tenantId: t.tenantId,
            endpoints: { authorityHost: s.authorityHost, graphBaseUrl: s.graphBaseUrl },
            auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: `env:MTC_BATCH_SECRET_${i}` },
            start: new Date(START).toISOString(), collectionDelay: '1m', settle: { rereads: [] }, destinations: ['siem'],
          };
        }),
        destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
      };
    },
  });
  // The catch-up (no density yet: single jobs), then two minutes on: every live slice is small.
  await run.host.runTimer('plan');
  await drain();
  clock.advance(2 * 60_000);
  await run.host.runTimer('plan');
  await drain();
  spans = otel.spans();
});

after(async () => {
  await run?.stop();
  await receiver?.close();
  await otel.shutdown();
  forgetTelemetryClient();
});

test("a batch's entries are page spans of their own, each the child of its own source's plan span", () => {
  const entries = spans.filter((s) => s.name === SPANS.page && /~\d+$/.test(String(s.attributes['messaging.message.id'])));
  assert.equal(entries.length, 3, `batched page spans: ${spans.filter((s) => s.name === SPANS.page).map((s) => String(s.attributes['messaging.message.id'])).join(', ')}`);
  assert.deepEqual(entries.map((s) => s.attributes['mtc.source']).sort(), ['s0', 's1', 's2']);
  assert.equal(new Set(entries.map((s) => String(s.attributes['messaging.message.id']).replace(/~\d+$/, ''))).size, 1, 'one message');
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  for (const e of entries) {
    assert.equal(e.attributes['mtc.outcome'], 'slice-done');
    const parent = byId.get(e.parentSpanContext?.spanId ?? '');
    assert.ok(parent, 'the parent span was exported');
    assert.equal(parent.name, SPANS.plan);
    assert.equal(parent.attributes['mtc.source'], e.attributes['mtc.source'], "the entry's parent is its own source's plan span");
    assert.equal(parent.spanContext().traceId, e.spanContext().traceId);
  }
});

test('every row of the collected range arrived once', async () => {
  const keys = receiver.events.map((e) => rowKey(e.tenantId, e.row));
  assert.equal(new Set(keys).size, keys.length, 'no row twice');
  let expected = 0;
  for (const [i, t] of sim.tenants.entries()) {
    const until = (await (await getRuntime()).ledger.getHealth(`s${i}`))?.completedUntil ?? 0;
    assert.ok(until > START, `s${i} collected`);
    expected += sim.groundTruth(t.tenantId, START, until, { asOf: clock.now() }).length;
  }
  assert.equal(keys.length, expected);
});
