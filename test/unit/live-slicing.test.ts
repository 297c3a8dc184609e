/**
 * Issue 19, planner arithmetic: the live slice length from density and lag target together, the
 * cut of a cold start or catch-up (at most ceil(rows / page) / 0.9 requests), and the checkpoint's
 * record of when each settle bucket's live read finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveSliceForLag } from '../../shared/budget';
import { cutLiveRange, RANGE_ESTIMATE_MARGIN } from '../../shared/planning/density';
import { MAX_WINDOW_MS } from '../../shared/planning/windows';
import {
  decodeCheckpoint, encodeCheckpoint, foldLiveReads, liveReadDoneAt, MAX_LATE_RUNS, pruneLiveReads, startLiveReads, type PlannerCheckpoint,
} from '../../shared/planning/checkpoint';

const MIN = 60_000;
const H = 60 * MIN;
const DAY = 24 * H;
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);
const perDay = (rows: number) => rows / DAY;

test('quiet tenants get one live slice of two poll intervals (the lag target), busy ones one a poll interval', () => {
  const at = (rowsPerDay: number | undefined, lagIntervals = 2) => liveSliceForLag({
    density: rowsPerDay === undefined ? undefined : perDay(rowsPerDay), pollIntervalMs: MIN, lagTargetMs: lagIntervals * MIN, pageSize: 5000,
  }) / MIN;
  for (const rows of [0, 10_000, 30_000, 100_000, 1_000_000, 3_500_000]) assert.equal(at(rows), 2, `${rows} rows/day: two intervals fit one request`);
  assert.equal(at(3_700_000), 1, '3.7M rows/day: two intervals expect more than a page, merging would only add lag');
  assert.equal(at(50_000_000), 1);
  assert.equal(at(undefined), 1, 'unknown density: one interval');
  assert.equal(at(10_000, 1), 1, 'a lag target of one interval never merges');
  assert.equal(at(10_000, 5), 5, 'a longer lag target merges more');
  assert.equal(at(1_000_000, 5), 5, '694 rows a minute: five minutes still fit one page');
  assert.equal(at(2_000_000, 5), 3, '1389 rows a minute: three minutes fit one page, four would not');
  assert.throws(() => liveSliceForLag({ density: 1, pollIntervalMs: 0, lagTargetMs: MIN, pageSize: 5000 }), /pollIntervalMs must be positive/);
  assert.throws(() => liveSliceForLag({ density: 1, pollIntervalMs: MIN, lagTargetMs: MIN, pageSize: 0 }), /pageSize must be positive/);
});

function assertCovers(slices: { startMs: number; endMs: number }[], startMs: number, endMs: number) {
  assert.equal(slices[0]!.startMs, startMs);
  assert.equal(slices[slices.length - 1]!.endMs, endMs);
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i]!;
    assert.ok(s.endMs > s.startMs, 'no empty slice');
    assert.ok(s.endMs - s.startMs <= MAX_WINDOW_MS, 'at most 10 days');
    assert.equal(s.startMs % 1000, 0, 'cut on whole seconds');
    if (i) assert.equal(s.startMs, slices[i - 1]!.endMs, 'contiguous, half-open');
  }
}

test('a range of unknown density is one slice per 10-day window: its pages are full but the last', () => {
  for (const days of [1 / 24, 1, 9.9, 10, 10.5, 25, 90]) {
    const range = { startMs: T0, endMs: T0 + Math.round(days * DAY / 1000) * 1000 };
    const slices = cutLiveRange(range, { density: undefined, pageSize: 5000, maxSliceMs: MAX_WINDOW_MS });
    assert.equal(slices.length, Math.ceil(days / 10), `${days} days`);
    assertCovers(slices, range.startMs, range.endMs);
  }
  // A density of 0 (nothing seen lately) is no reason to cut either.
  assert.equal(cutLiveRange({ startMs: T0, endMs: T0 + 3 * DAY }, { density: 0, pageSize: 5000, maxSliceMs: MAX_WINDOW_MS }).length, 1);
  // A configured sliceLength still caps every slice, cut at its multiples as before.
  const hourly = cutLiveRange({ startMs: T0 + 20 * MIN, endMs: T0 + 3 * H }, { density: undefined, pageSize: 5000, maxSliceMs: H });
  assert.deepEqual(hourly.map((s) => [(s.startMs - T0) / MIN, (s.endMs - T0) / MIN]), [[20, 60], [60, 120], [120, 180]]);
  assert.deepEqual(cutLiveRange({ startMs: T0, endMs: T0 }, { density: undefined, pageSize: 5000, maxSliceMs: H }), []);
});

test('a range of known density is cut in parallel only when the bound holds with ten times fewer rows than expected', () => {
  // Every cut of a grid of ranges and densities: N slices cost at most ceil(rows / 5000) + N - 1
  // requests. With the rows the density predicts, and with a tenth of them (the limit at 10x its
  // realistic worst case: a quiet night after a busy afternoon is 3 to 5 times off), that is within
  // ceil(rows / 5000) / 0.9 whenever there is more than one slice in a window.
  let parallelCuts = 0;
  for (const rowsPerDay of [1_000, 30_000, 300_000, 1_000_000, 5_000_000, 20_000_000]) {
    for (const hours of [1, 6, 24, 72, 240]) {
      const range = { startMs: T0, endMs: T0 + hours * H };
      const density = perDay(rowsPerDay);
      const slices = cutLiveRange(range, { density, pageSize: 5000, maxSliceMs: MAX_WINDOW_MS });
      assertCovers(slices, range.startMs, range.endMs);
      if (slices.length > 1) parallelCuts++;
      for (const share of [1, 1 / RANGE_ESTIMATE_MARGIN]) {
        const rows = density * hours * H * share;
        const min = Math.max(1, Math.ceil(rows / 5000));
        const worst = min + slices.length - 1;
        assert.ok(worst <= min / 0.9, `${rowsPerDay} rows/day over ${hours} h at ${share} of the density: ${slices.length} slices, up to ${worst} requests for a minimum of ${min}`);
      }
    }
  }
  assert.ok(parallelCuts >= 3, `dense ranges are still read by parallel slices (${parallelCuts} cuts)`);
  // A day at 1M rows a day (200 pages) runs as two slices; an hour of it (8 pages) as one.
  assert.equal(cutLiveRange({ startMs: T0, endMs: T0 + DAY }, { density: perDay(1_000_000), pageSize: 5000, maxSliceMs: MAX_WINDOW_MS }).length, 2);
  assert.equal(cutLiveRange({ startMs: T0, endMs: T0 + H }, { density: perDay(1_000_000), pageSize: 5000, maxSliceMs: MAX_WINDOW_MS }).length, 1);
});

const B = H;
const AGE = H;
const slice = (startMs: number, endMs: number, updatedAt: number) => ({ startMs, endMs, updatedAt });

test('the checkpoint knows when each settle bucket was read live, and keeps only the late ones', () => {
  // A new source started at T0 + 10 min: its first bucket is known from its start.
  let r = startLiveReads(T0 + 10 * MIN, T0 + 10 * MIN, B, AGE);
  assert.equal(r.fromMs, T0);
  // One 3-hour cold-start slice done 5 hours after its start: every bucket it covers was read late.
  r = foldLiveReads(r, T0 + 10 * MIN, T0 + 3 * H, [slice(T0 + 10 * MIN, T0 + 3 * H, T0 + 5 * H)]);
  assert.deepEqual(r.late, [{ fromMs: T0, toMs: T0 + 3 * H, doneAt: T0 + 5 * H }], 'one run for the slice');
  // Then live slices of one minute read 6 minutes after their end: not late, nothing kept.
  const minutes = Array.from({ length: 90 }, (_, i) => slice(T0 + 3 * H + i * MIN, T0 + 3 * H + (i + 1) * MIN, T0 + 3 * H + (i + 7) * MIN));
  r = foldLiveReads(r, T0 + 3 * H, T0 + 4 * H + 30 * MIN, minutes);
  assert.equal(r.late.length, 1);
  assert.equal(r.openDoneAt, T0 + 4 * H + 36 * MIN, 'the bucket holding the watermark stays open with its latest finish so far');
  const cp: PlannerCheckpoint = { densityUntil: T0 + 4 * H + 30 * MIN, densityRows: 1, densityMs: 1, checkedUntil: 0, reads: r };
  assert.equal(liveReadDoneAt(cp, T0, B), T0 + 5 * H);
  assert.equal(liveReadDoneAt(cp, T0 + 2 * H, B), T0 + 5 * H);
  assert.equal(liveReadDoneAt(cp, T0 + 3 * H, B), 0, 'read on time');
  assert.equal(liveReadDoneAt(cp, T0 + 4 * H, B), undefined, 'not closed yet: the ledger decides');
  assert.equal(liveReadDoneAt(cp, T0 - H, B), undefined, 'before what the checkpoint saw');
  assert.equal(liveReadDoneAt(cp, T0, 2 * B), undefined, 'another bucket length');
  // A bucket of late and on-time slices takes the latest finish.
  const mixed = foldLiveReads(startLiveReads(T0, T0, B, AGE), T0, T0 + H, [slice(T0, T0 + 30 * MIN, T0 + 31 * MIN), slice(T0 + 30 * MIN, T0 + H, T0 + 3 * H)]);
  assert.deepEqual(mixed.late, [{ fromMs: T0, toMs: T0 + H, doneAt: T0 + 3 * H }]);
  // Runs every level has passed are dropped.
  assert.deepEqual(pruneLiveReads(cp, T0 + 3 * H).reads!.late, []);
  assert.equal(pruneLiveReads(cp, T0 + 2 * H).reads!.late.length, 1);
});

test('the late record is bounded: ten times more late buckets than it keeps push its start forward', () => {
  let r = startLiveReads(T0, T0, B, AGE);
  const n = 10 * MAX_LATE_RUNS;
  // Every bucket finished at its own time (a source that stays hours behind): one run each.
  r = foldLiveReads(r, T0, T0 + n * B, Array.from({ length: n }, (_, i) => slice(T0 + i * B, T0 + (i + 1) * B, T0 + (i + 3) * B + i)));
  assert.equal(r.late.length, MAX_LATE_RUNS);
  assert.equal(r.fromMs, T0 + (n - MAX_LATE_RUNS) * B, 'older buckets are unknown again (the ledger decides)');
  const cp: PlannerCheckpoint = { densityUntil: T0 + n * B, densityRows: 0, densityMs: 0, checkedUntil: 0, reads: r };
  const text = encodeCheckpoint(cp);
  assert.ok(text.length < 4_000, `the cursor property stays far below 32K characters (${text.length})`);
  assert.deepEqual(decodeCheckpoint(text), cp);
  assert.equal(liveReadDoneAt(cp, T0, B), undefined);
  assert.equal(liveReadDoneAt(cp, T0 + (n - 1) * B, B), T0 + (n + 2) * B + n - 1);
});

test('a checkpoint of the earlier version still reads; a damaged late record is dropped, not trusted', () => {
  assert.deepEqual(decodeCheckpoint('100:2.5:60000:200'), { densityUntil: 100, densityRows: 2.5, densityMs: 60000, checkedUntil: 200 });
  assert.deepEqual(decodeCheckpoint('100:2.5:60000:200:3600000:3600000:0:0:5,1,9'), { densityUntil: 100, densityRows: 2.5, densityMs: 60000, checkedUntil: 200 });
  assert.deepEqual(decodeCheckpoint('100:2.5:60000:200:3600000:3600000:0:0:x'), { densityUntil: 100, densityRows: 2.5, densityMs: 60000, checkedUntil: 200 });
  assert.equal(decodeCheckpoint('100:2.5:60000'), undefined);
  assert.equal(decodeCheckpoint('100:-1:60000:200'), undefined);
  const empty: PlannerCheckpoint = { densityUntil: 1, densityRows: 0, densityMs: 0, checkedUntil: 1, reads: { bucketMs: B, minAgeMs: AGE, fromMs: 0, openDoneAt: 0, late: [] } };
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint(empty)), empty);
});
