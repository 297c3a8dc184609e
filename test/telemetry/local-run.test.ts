/**
 * Telemetry from a real local run: the simulator as the tenant, the real function handlers in the
 * local Functions host, Azurite, and a local receiver as the SIEM, with an in-memory OpenTelemetry
 * SDK registered before the run (as Application Insights registers its own in Azure) and the
 * `applicationinsights` module replaced by a recording fake (custom events, no network).
 *
 * It proves that every metric declared in METRICS comes out with exactly its declared tags, that
 * health changes are custom events, and that the queue hop carries the trace: a page job, its
 * continuation, its retry and the destination drain it started are spans of one trace, each the
 * child of the span that enqueued it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { registerInMemoryOtel, startFakeAppInsights, type CollectedPoint } from './otel';
import type { LocalRun } from '../../local/run';
import { ManualClock } from '../../shared/time/clock';
import { forgetTelemetryClient } from '../../shared/telemetry-setup';
import { EVENT_PROPERTIES, EVENTS, METRICS, SPANS, type MetricDeclaration } from '../../shared/telemetry';
import { isDetailEvent } from '../../shared/model/row';
import { startReceiver, type Receiver } from '../support/receiver';
import { drainWithClock, simulatorGraphSource, startTestRun } from '../support/local-run';

const otel = registerInMemoryOtel();
const customEvents: { name: string; properties?: Record<string, string> }[] = [];

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const clock = new ManualClock(T0);
let run: LocalRun;
let receiver: Receiver;
let points: CollectedPoint[] = [];
let spans: ReadableSpan[] = [];

/** Drains the queue while clock time moves on, so retry and budget delays come due. */
function drain(): Promise<void> {
  return drainWithClock(run, clock, { stepMs: 2000, timeoutMs: 90_000, quietMs: 400 });
}

before(async () => {
  assert.equal(startFakeAppInsights(customEvents), true);
  receiver = await startReceiver();
  run = await startTestRun(clock, { tables: 'tel', queue: 'teljobs' }, {
    simulatorOptions: {
      seed: 11,
      tenants: [{ rowsPerDay: 4800 }],
      faults: [{ kind: '503', count: 1, retryAfterSec: 1, match: { api: 'graph', nthRequest: 2 } }],
    },
    configDoc: (sim) => ({
      sources: [{
        id: 'contoso',
        ...simulatorGraphSource(sim),
        start: new Date(T0 - 2 * 3600_000).toISOString(),
        collectionDelay: '10m',
        sliceLength: '1h',
        pageSize: 40,
        destinations: ['siem'],
        // A cap of 3 a day: some qualifying rows get their details, the rest are skipped (cap).
        details: { enabled: true, dailyRequestCap: 3 },
      }],
      destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true, maxBatchRecords: 25 }],
    }),
  });
  receiver.failWith(503, 1);
  // Catch-up, then one live poll, then a last plan that refreshes the gauges.
  await run.host.runTimer('plan');
  await drain();
  clock.advance(5 * 60_000);
  await run.host.runTimer('plan');
  await drain();
  await run.host.runTimer('plan');
  await run.host.runTimer('poisonSweep');
  points = await otel.collectMetrics();
  spans = otel.spans();
});

after(async () => {
  await run?.stop();
  await receiver?.close();
  await otel.shutdown();
  forgetTelemetryClient();
});

const SDK_KIND = { counter: 'counter', gauge: 'gauge', histogram: 'histogram' } as const;

test('a local run emits every declared metric, each with exactly its declared tags', () => {
  for (const m of Object.values(METRICS as Record<string, MetricDeclaration>)) {
    const series = points.filter((p) => p.name === m.name);
    assert.ok(series.length > 0, `${m.name} was emitted (emitted: ${[...new Set(points.map((p) => p.name))].join(', ')})`);
    for (const p of series) {
      assert.equal(p.kind, SDK_KIND[m.kind], `${m.name} is a ${m.kind}`);
      assert.deepEqual(Object.keys(p.attributes).sort(), [...m.tags].sort(), `${m.name} tags`);
      if (m.tags.includes('source')) assert.equal(p.attributes.source, 'contoso');
      for (const [k, v] of Object.entries(p.attributes)) assert.equal(typeof v, 'string', `${m.name} tag ${k} is text`);
    }
  }
  const declared = new Set<string>(Object.values(METRICS).map((m) => m.name));
  for (const p of points) assert.ok(declared.has(p.name), `${p.name} is declared in METRICS`);
});

test('the metric values agree with what the receiver got and what failed', () => {
  const sum = (name: string, filter: Record<string, string> = {}) => points
    .filter((p) => p.name === name && Object.entries(filter).every(([k, v]) => p.attributes[k] === v))
    .reduce((a, p) => a + p.value, 0);
  const rows = receiver.events.filter((e) => !isDetailEvent(e));
  const details = receiver.events.filter((e) => isDetailEvent(e));
  assert.ok(rows.length > 100, `rows reached the receiver: ${rows.length}`);
  assert.equal(sum(METRICS.rowsForwarded.name, { destination: 'siem' }), rows.length);
  assert.equal(sum(METRICS.eventsReceived.name), rows.length, 'every kept row was forwarded once');
  assert.ok(details.length > 0, 'detail events reached the receiver');
  assert.equal(sum(METRICS.detailEvents.name, { destination: 'siem' }), details.length, 'every detail event counted once');
  assert.equal(sum(METRICS.detailRequests.name, { status: '200' }), 3, 'detail requests up to the cap');
  assert.ok(sum(METRICS.detailsSkipped.name, { reason: 'cap' }) > 0, 'rows past the cap counted as skipped');
  assert.equal(sum(METRICS.budgetWaitedForDetail.name), 0, 'no request waited because of a detail request');
  const sentBytes = receiver.events.reduce((a, e) => a + Buffer.byteLength(JSON.stringify(e)) + 1, 0);
  assert.equal(sum(METRICS.bytesSent.name, { destination: 'siem' }), sentBytes, 'bytes sent are the serialised events, before compression');
  assert.ok(sum(METRICS.bytesReceived.name) > sentBytes / 4, 'bytes received count the API bodies');
  assert.equal(sum(METRICS.apiRequests.name, { status: '503' }), 1);
  assert.equal(sum(METRICS.errors.name, { stage: 'receiving', error_type: 'ThirdPartyGeneric' }), 1);
  assert.equal(sum(METRICS.errors.name, { stage: 'sending', error_type: 'FirstPartyGeneric', code: 'Http503' }), 1);
  assert.equal(sum(METRICS.slicesParked.name), 0);
  const lag = points.find((p) => p.name === METRICS.lagSeconds.name)!;
  assert.ok(lag.value >= 10 * 60 && lag.value < 3600, `lag is about the collection delay: ${lag.value} s`);
  const budget = points.find((p) => p.name === METRICS.budgetUse.name)!;
  assert.ok(budget.value > 0 && budget.value <= 1, `budget use is a share: ${budget.value}`);
});

test('health changes are sent to Application Insights as custom events', () => {
  const health = customEvents.filter((e) => e.name === EVENTS.health && e.properties?.source === 'contoso');
  const states = health.map((e) => e.properties?.state);
  assert.ok(states.includes('Initialized'), `states: ${states.join(', ')}`);
  assert.ok(states.includes('Collecting'), `states: ${states.join(', ')}`);
  for (const e of health) assert.ok(e.properties?.previousState, 'each health event names the previous state');
  for (const e of customEvents) {
    const key = (Object.keys(EVENTS) as (keyof typeof EVENTS)[]).find((k) => EVENTS[k] === e.name);
    assert.ok(key, `${e.name} is declared in EVENTS`);
    for (const prop of Object.keys(e.properties ?? {})) assert.ok(EVENT_PROPERTIES[key].properties.includes(prop), `${e.name} property ${prop} is documented`);
  }
});

test('a page job, its continuation and its retry are spans of one trace, each the child of the span that enqueued it', () => {
  const pages = spans.filter((s) => s.name === SPANS.page);
  const plans = spans.filter((s) => s.name === SPANS.plan);
  assert.ok(pages.length > 4 && plans.length >= 2, `spans: ${pages.length} page, ${plans.length} plan`);
  // A timer run with nothing due for the source records no span (issue 19: telemetry by design).
  assert.deepEqual(plans.filter((p) => p.attributes['mtc.outcome'] === 'not-due').length, 0, `plan outcomes: ${plans.map((p) => String(p.attributes['mtc.outcome'])).join(', ')}`);
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  for (const p of pages) {
    assert.equal(p.kind, SpanKind.CONSUMER);
    const parentId = p.parentSpanContext?.spanId;
    assert.ok(parentId, `page span ${String(p.attributes['mtc.slice'])} p${String(p.attributes['mtc.page'])} has a parent`);
    const parent = byId.get(parentId)!;
    assert.ok(parent, 'the parent span was exported');
    assert.equal(parent.spanContext().traceId, p.spanContext().traceId, 'one trace across the queue hop');
    assert.equal(p.attributes['mtc.source'], 'contoso');
    if (parent.name === SPANS.plan) {
      assert.equal(p.attributes['mtc.page'], 0, 'the planner enqueues page 0');
    } else {
      assert.equal(parent.name, SPANS.page);
      assert.equal(parent.attributes['mtc.slice'], p.attributes['mtc.slice'], 'a page span descends from a page of its own slice');
      const step = Number(p.attributes['mtc.page']) - Number(parent.attributes['mtc.page']);
      assert.ok(step === 1 || step === 0, 'the parent is the previous page (continuation) or the same page (retry or deferral)');
    }
  }
  // A slice with several pages: page n+1 is the child of page n, all in the trace its plan started.
  const slices = new Map<string, ReadableSpan[]>();
  for (const p of pages.filter((s) => s.attributes['mtc.outcome'] === 'forwarded' || s.attributes['mtc.outcome'] === 'slice-done')) {
    const id = String(p.attributes['mtc.slice']);
    slices.set(id, [...(slices.get(id) ?? []), p]);
  }
  const multi = [...slices.values()].find((list) => list.length >= 3);
  assert.ok(multi, 'a slice took three pages or more');
  const traceIds = new Set(multi.map((s) => s.spanContext().traceId));
  assert.equal(traceIds.size, 1, 'all pages of the slice are one trace');
  const plan = plans.find((s) => s.spanContext().traceId === [...traceIds][0]);
  assert.ok(plan, 'the trace starts at the plan span that enqueued page 0');
  // The retried page (one API 503): its failing attempt is an ERROR span, the retry its child.
  const failed = pages.filter((s) => s.attributes['mtc.outcome'] === 'retry-scheduled');
  assert.equal(failed.length, 1, 'the API failure was retried (the destination failure went to its backlog, not a page retry)');
  for (const f of failed) {
    assert.equal(f.status.code, SpanStatusCode.ERROR);
    const retry = pages.find((s) => s.parentSpanContext?.spanId === f.spanContext().spanId && s.attributes['mtc.page'] === f.attributes['mtc.page'] && Number(s.attributes['mtc.attempt']) === Number(f.attributes['mtc.attempt']) + 1);
    assert.ok(retry, `the retry of ${String(f.attributes['mtc.slice'])} p${String(f.attributes['mtc.page'])} continues its trace`);
  }
  // The destination's 503: the page went to its backlog, and the drain that delivered it continues
  // the trace of the page that handed it off.
  const drains = spans.filter((s) => s.name === SPANS.delivery);
  assert.ok(drains.length >= 1, 'the destination\'s drain ran');
  for (const d of drains) {
    assert.equal(d.attributes['mtc.destination'], 'siem');
    const parent = byId.get(d.parentSpanContext?.spanId ?? '');
    assert.ok(parent && (parent.name === SPANS.page || parent.name === SPANS.delivery), 'a drain is the child of the page that handed off, or of the drain before it');
    assert.equal(parent.spanContext().traceId, d.spanContext().traceId);
  }
  assert.ok(drains.some((d) => d.attributes['mtc.outcome'] === 'slice-done'), 'a drain caught the destination up');
});
