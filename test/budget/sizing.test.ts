/**
 * Worker count and adaptive slicing, derived from the budget, the latency and the observed density.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveConcurrency, liveSliceMs, observedDensity, parallelSlices, planBackfillSlices, requestsFor } from '../../shared/budget';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test('at 3 s per page and 90 requests per 5 minutes one slot keeps a tenant busy', () => {
  const p = deriveConcurrency({ tenants: 1, allowedPerWindow: 90, windowMs: 300_000, pageLatencyMs: 3000, margin: 1 });
  assert.ok(Math.abs(p.slotsPerTenant - 0.9) < 1e-9);
  assert.equal(p.fanOutPerTenant, 1);
  assert.equal(p.totalSlots, 1);
  assert.equal(p.maximumInstanceCount, 1);
});

test('N tenants need about N slots, spread over instances of batchSize + newBatchThreshold', () => {
  const p = deriveConcurrency({ tenants: 20, pageLatencyMs: 3000, margin: 1, slotsPerInstance: 6 });
  assert.equal(p.totalSlots, 18);
  assert.deepEqual([p.batchSize, p.newBatchThreshold], [4, 2]);
  assert.equal(p.maximumInstanceCount, 3);
  const withMargin = deriveConcurrency({ tenants: 20, pageLatencyMs: 3000, pageOverheadMs: 500 });
  assert.equal(withMargin.totalSlots, Math.ceil(20 * 1.05 * 1.25));
  assert.equal(withMargin.fanOutPerTenant, 2, 'with overhead one slot no longer keeps up with the budget');
});

test('slower pages need more parallel slices', () => {
  assert.equal(parallelSlices({ observedLatencyMs: 3000, margin: 1 }), 1);
  assert.equal(parallelSlices({ observedLatencyMs: 10_000, margin: 1 }), 3);
  assert.equal(parallelSlices({ observedLatencyMs: 10_000, margin: 1, remainingPages: 2 }), 2, 'never more slices than pages left');
});

test('bad sizing inputs name the input', () => {
  assert.throws(() => deriveConcurrency({ tenants: 0, pageLatencyMs: 3000 }), /tenants must be a positive integer/);
  assert.throws(() => deriveConcurrency({ tenants: 1, pageLatencyMs: -1 }), /pageLatencyMs/);
  assert.throws(() => deriveConcurrency({ tenants: 1, pageLatencyMs: 1, margin: 0.5 }), /margin must be 1 or more/);
});

test('density is total rows over total observed time', () => {
  assert.equal(observedDensity([]), undefined);
  assert.equal(observedDensity([{ startMs: 0, endMs: 1000, rows: 10 }, { startMs: 1000, endMs: 3000, rows: 2 }]), 12 / 3000);
});

test('a quiet tenant merges poll intervals so a live request expects a row; a busy one polls every interval', () => {
  const poll = 60_000;
  assert.equal(liveSliceMs({ density: 1_000_000 / DAY, pollIntervalMs: poll }), poll);
  assert.equal(liveSliceMs({ density: 100 / DAY, pollIntervalMs: poll }), 15 * poll, 'capped at 15 minutes of added lag');
  assert.equal(liveSliceMs({ density: 1 / (4 * 60_000), pollIntervalMs: poll }), 4 * poll);
  assert.equal(liveSliceMs({ density: undefined, pollIntervalMs: poll }), poll);
});

test('with a lag target, a quiet tenant merges poll intervals up to the target until a request expects a tenth of a page', () => {
  const poll = 60_000;
  const target = { lagTargetMs: 2 * poll, minExpectedRows: 500 };
  assert.equal(liveSliceMs({ density: 10_000 / DAY, pollIntervalMs: poll, ...target }), 2 * poll, '7 rows a minute: two intervals, the lag target');
  assert.equal(liveSliceMs({ density: 0, pollIntervalMs: poll, ...target }), 2 * poll, 'an empty tenant keeps the lag target too');
  assert.equal(liveSliceMs({ density: 1_000_000 / DAY, pollIntervalMs: poll, ...target }), poll, '694 rows a minute: every interval');
});

test('a 10-day backfill is cut into parallel slices that average at least 4500 rows per request', () => {
  const start = Date.UTC(2026, 0, 1);
  const slices = planBackfillSlices({ startMs: start, endMs: start + 10 * DAY, density: 1_000_000 / DAY, parallel: 2 });
  assert.equal(slices.length, 2);
  assert.equal(slices[0]!.startMs, start);
  assert.equal(slices[slices.length - 1]!.endMs, start + 10 * DAY);
  for (let i = 1; i < slices.length; i++) assert.equal(slices[i]!.startMs, slices[i - 1]!.endMs, 'contiguous, half-open');
  const rows = slices.reduce((a, s) => a + s.expectedRows, 0);
  const requests = slices.reduce((a, s) => a + requestsFor(s.expectedRows), 0);
  assert.ok(rows / requests >= 4500, `rows per request ${rows / requests}`);
});

test('a small range is one slice: it is never split into slices of less than ten pages', () => {
  const slices = planBackfillSlices({ startMs: 0, endMs: 2 * HOUR, density: 30_000 / HOUR, parallel: 4 });
  assert.equal(slices.length, 1);
  const medium = planBackfillSlices({ startMs: 0, endMs: 10 * HOUR, density: 30_000 / HOUR, parallel: 4 });
  assert.equal(medium.length, 4);
  const fewer = planBackfillSlices({ startMs: 0, endMs: 4 * HOUR, density: 30_000 / HOUR, parallel: 4 });
  assert.equal(fewer.length, 2, '120k rows make two slices of 12 pages, not four of 6');
});

test('empty hours merge into their neighbours and slices hold equal expected rows', () => {
  const histogram = [
    { startMs: 0, endMs: HOUR, rows: 60_000 },
    { startMs: HOUR, endMs: 5 * HOUR, rows: 0 },
    { startMs: 5 * HOUR, endMs: 6 * HOUR, rows: 60_000 },
  ];
  const slices = planBackfillSlices({ startMs: 0, endMs: 6 * HOUR, histogram, parallel: 2 });
  assert.equal(slices.length, 2);
  assert.equal(slices[0]!.endMs, HOUR, 'the cut falls where half the rows are, at the end of the busy first hour');
  for (const s of slices) assert.ok(Math.abs(s.expectedRows - 60_000) < 1, `expected 60k rows, got ${s.expectedRows}`);
});

test('no slice is longer than the API window of 10 days', () => {
  const slices = planBackfillSlices({ startMs: 0, endMs: 25 * DAY, density: 0, parallel: 1 });
  assert.equal(slices.length, 3);
  for (const s of slices) assert.ok(s.endMs - s.startMs <= 10 * DAY);
});
