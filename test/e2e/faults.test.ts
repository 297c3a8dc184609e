/**
 * The short fault-injection run for CI: API faults of every kind, destination faults, and SIGKILLs
 * of the collector process at random points. Nothing may be lost; duplicates only where a
 * destination's acknowledgement was lost or the process died right after it (counted apart).
 * `npm run soak` runs the long version.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaultSuite } from '../support/fault-suite';
import { testStorage } from '../support/azurite';

test('under API faults, destination faults and process kills nothing is lost or duplicated, and no secret leaks', async () => {
  const result = await runFaultSuite({
    storageConnectionString: await testStorage(),
    seed: 20261122,
    rowsPerDay: 40_000,
    hours: 12,
    pageSize: 400,
    apiFaultRate: 0.04,
    destinationFaultRate: 0.04,
    kills: 4,
    maxRunBeforeKillMs: 4000,
    // Real-data shapes and racing control planes, short: distribution-list mails, rows that appear
    // inside an already-read window (found by the settle re-read 5 minutes after their hour closes),
    // statuses that change between two reads of a page (update events are new events, not copies),
    // two collectors at once at the end with 20 overlapping backfill POSTs racing at their HTTP APIs,
    // and the flaky destination down for the first 5 s.
    traffic: { distributionLists: { perDay: 24 }, rereadChanges: { lateRowFraction: 0.01, statusChangeFraction: 0.02 } },
    settle: { rereads: ['5m'], bucket: '1h' },
    concurrentFinalRuns: 2,
    concurrentBackfills: 20,
    backfillHours: 3,
    destinationOutageMs: 5000,
    log: (line) => console.log(`faults: ${line}`),
    timeoutMs: 240_000,
  });
  console.log(result.table);
  assert.ok(result.expected > 15_000, `expected rows: ${result.expected}`);
  assert.equal(result.parked, 0, 'no slice is parked');
  // Exactly one of 20 overlapping backfills runs; its rows are in the expected set.
  assert.deepEqual(result.backfillAnswers, { 202: 1, 409: 19 }, 'exactly one 202 and nineteen 409s');
  assert.ok(result.backfill && result.backfill.endMs > result.backfill.startMs, 'the admitted backfill range is known');
  // Late rows before settledUntil were found by a re-read (the hours before the last closed one).
  assert.ok(result.lateRowsRequired > 20, `late rows required: ${result.lateRowsRequired}`);
  for (const d of result.destinations) {
    assert.equal(d.lost, 0, `${d.id}: lost`);
    assert.equal(d.unexplainedDuplicates, 0, `${d.id}: duplicates outside the acknowledgement window`);
    assert.equal(d.unexpected, 0, `${d.id}: rows outside the range`);
  }
  assert.ok(result.kills >= 1, 'at least one run was killed');
  // The kill window excuses only copies first sent inside a killed run's documented window.
  assert.deepEqual(result.killWindowViolations, [], 'the kill window excuses only real kill-window copies');
  assert.equal(result.killWindows.length, result.kills);
  for (const w of result.killWindows) assert.ok(w.to - w.from >= 2500 && w.to - w.from < 2500 + 60_000, `window of run ${w.run + 1}: ${w.to - w.from} ms`);
  const injected = Object.entries(result.faults).filter(([, n]) => n > 0).map(([k]) => k);
  for (const kind of ['api 429', 'api 500', 'api 503', 'api 504', 'api reset', 'api hang', 'api html', 'api truncated', 'api corruptNextLink', 'api expiredToken',
    'destination error503', 'destination slow', 'destination dropBeforeStore', 'destination dropAfterStore']) {
    assert.ok(injected.includes(kind), `fault ${kind} was injected (injected: ${injected.join(', ')})`);
  }
  assert.deepEqual(result.secretLeaks, [], 'no secret value in logs, state rows or queue messages');
});
