// The cost model's billed instance time (bench/cost.ts instanceMsPerDay): page jobs of many tenants
// share instances (up to 6 at once each), so a deployment of 1000 tenants is not billed as 1000
// deployments of one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRICES, dailyUsage, instanceMsPerDay, monthlyCost, storageLogsCost } from '../../bench/cost';
import type { RunUsage } from '../../bench/virtual';

const DAY = 86_400_000;

test('billed instance time is the execution time when jobs seldom overlap, and about a sixth of it when dozens run at once', () => {
  // One quiet tenant: 736 jobs of 3 s a day (2.6% of the day busy).
  const alone = 736 * 3000;
  const billed = instanceMsPerDay(alone, 6);
  assert.ok(billed <= alone && billed > 0.98 * alone, `one tenant: ${billed} of ${alone}`);
  // 1000 such tenants: about 25.6 jobs at once on average.
  const many = 1000 * alone;
  const share = instanceMsPerDay(many, 6) / many;
  assert.ok(share > 1 / 6 && share < 1 / 6 + 0.03, `1000 tenants: billed ${share.toFixed(3)} of the execution time`);
  // Never below the execution time spread perfectly over full instances, never above the execution time.
  for (const a of [0.001, 0.5, 3, 40, 400]) {
    const b = instanceMsPerDay(a * DAY, 6);
    assert.ok(b >= (a * DAY) / 6 - 1 && b <= a * DAY + 1, `a=${a}: ${b / DAY} instance-days`);
  }
  assert.equal(instanceMsPerDay(0, 6), 0);
});

test('a thousand tenants cost less per tenant in functions than one tenant alone', () => {
  const usage = {
    plannerExecutions: 180, pageJobExecutions: 92, plannerActiveMs: 0, pageJobInstanceMs: 270_000, pageJobExecutionMs: 276_000, perInstanceConcurrency: 6,
    graphRequests: 93, destinationRequests: 90, telemetry: { metricRecords: 0, metricBytes: 0, eventRecords: 0, eventBytes: 0 },
    storage: { 'table write-entity': 700, 'table read-entity': 700 },
  } as unknown as RunUsage;
  const run = { tenants: 1, durationMs: 3 * 3600_000, bytesDelivered: 0 };
  const one = dailyUsage(usage, run, 1).gbSeconds;
  const thousand = dailyUsage(usage, run, 1000).gbSeconds / 1000;
  assert.ok(thousand < one / 4, `GB-s per tenant: ${thousand.toFixed(0)} in a deployment of 1000, ${one.toFixed(0)} alone`);
});

test('sampled traces: spans and dependencies count at the sampled share, the host records and the metrics in full', () => {
  const base = {
    plannerExecutions: 180, pageJobExecutions: 90, pageJobs: 90, planSpans: 90, plannerActiveMs: 0, pageJobInstanceMs: 270_000, pageJobExecutionMs: 276_000, perInstanceConcurrency: 6,
    graphRequests: 90, destinationRequests: 90, telemetry: { metricRecords: 100, metricBytes: 50_000, eventRecords: 0, eventBytes: 0 },
    storage: { 'table write-entity': 700 },
  };
  const run = { tenants: 1, durationMs: 3 * 3600_000, bytesDelivered: 0 };
  const bytes = (traceSampling?: number) => dailyUsage({ ...base, ...(traceSampling !== undefined ? { traceSampling } : {}) } as unknown as RunUsage, run, 1).telemetryBytes;
  const all = bytes(1), none = bytes(0), quarter = bytes(0.25);
  assert.equal(bytes(), all, 'a result without the field kept every trace');
  assert.ok(none > 0 && none < all, `with no trace kept the metrics and the host's records remain: ${none} of ${all}`);
  assert.ok(Math.abs(quarter - (none + 0.25 * (all - none))) < 1e-6, `a quarter of the sampled part: ${quarter}`);
});

test('the storage logs: the collector\'s own records filtered at ingestion cost the data processing of what passes half of them; kept, the plan\'s ingestion price', () => {
  const gb = 10;
  assert.equal(storageLogsCost(gb, { collectorRequests: true }), gb * PRICES.basicLogsPerGb, 'kept on the Basic plan');
  assert.equal(storageLogsCost(gb, { collectorRequests: true, plan: 'Analytics' }), gb * PRICES.logAnalyticsPerGb, 'kept on the Analytics plan');
  // Filtered: nothing ingested; the first half of what enters the rule is free, the rest is data processing.
  assert.ok(Math.abs(storageLogsCost(gb) - (gb / 2) * PRICES.logDataProcessingPerGb) < 1e-9);
  assert.equal(storageLogsCost(gb, { plan: 'Analytics' }), storageLogsCost(gb), 'the processing price does not depend on the plan');
  assert.ok(storageLogsCost(gb) < storageLogsCost(gb, { collectorRequests: true }) / 5, 'the filter is the cheaper default');
  assert.equal(storageLogsCost(0), 0);
  // Through the monthly cost: the diagnostics part follows the option.
  const d = { storageLogBytes: 1e9 / 30 } as unknown as Parameters<typeof monthlyCost>[0];
  const blank = { gbSeconds: 0, executions: 0, table: 0, queueClass1: 0, queueClass2: 0, blobWrites: 0, blobReads: 0, telemetryBytes: 0, keyVaultOps: 0, egressBytes: 0 };
  assert.ok(Math.abs(monthlyCost({ ...blank, ...d }).diagnostics - 0.5 * PRICES.logDataProcessingPerGb) < 1e-9);
  assert.ok(Math.abs(monthlyCost({ ...blank, ...d }, { collectorRequests: true }).diagnostics - PRICES.basicLogsPerGb) < 1e-9);
});
