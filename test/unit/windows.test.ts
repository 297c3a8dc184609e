import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutSlices, nextLiveWindow, MAX_WINDOW_MS } from '../../shared/planning/windows';

const H = 3600_000;
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);

test('slices are half-open, contiguous and cut at multiples of the slice length', () => {
  const slices = cutSlices({ startMs: T0 + 20 * 60_000, endMs: T0 + 3 * H + 5 * 60_000 }, H);
  assert.deepEqual(slices.map((s) => [(s.startMs - T0) / 60_000, (s.endMs - T0) / 60_000]), [[20, 60], [60, 120], [120, 180], [180, 185]]);
  for (let i = 1; i < slices.length; i++) assert.equal(slices[i]!.startMs, slices[i - 1]!.endMs);
});

test('an empty or inverted range yields no slice', () => {
  assert.deepEqual(cutSlices({ startMs: T0, endMs: T0 }, H), []);
  assert.deepEqual(cutSlices({ startMs: T0 + H, endMs: T0 }, H), []);
});

test('the live window ends at now minus the collection delay, floored to a second', () => {
  const now = T0 + 2 * H + 12_345;
  const w = nextLiveWindow({ scheduledUntil: T0, now, collectionDelayMs: 10 * 60_000, sliceMs: H });
  assert.equal(w.scheduledUntil, T0 + 2 * H - 10 * 60_000 + 12_000);
  assert.equal(w.slices.at(-1)!.endMs, w.scheduledUntil);
  assert.equal(w.slices[0]!.startMs, T0);
});

test('nothing is planned while the cursor is already at now minus the delay', () => {
  const w = nextLiveWindow({ scheduledUntil: T0, now: T0 + 10 * 60_000 + 999, collectionDelayMs: 10 * 60_000, sliceMs: H });
  assert.deepEqual(w.slices, []);
  assert.equal(w.scheduledUntil, T0);
});

test('one planning window never spans more than the API limit of 10 days', () => {
  const w = nextLiveWindow({ scheduledUntil: T0, now: T0 + 30 * 24 * H, collectionDelayMs: 0, sliceMs: 24 * H });
  assert.equal(w.scheduledUntil - T0, MAX_WINDOW_MS);
  assert.equal(w.slices.length, 10);
});

test('a slice length above 10 days is capped at 10 days', () => {
  const slices = cutSlices({ startMs: T0, endMs: T0 + 25 * 24 * H }, 40 * 24 * H);
  assert.ok(slices.every((s) => s.endMs - s.startMs <= 40 * 24 * H));
  const w = nextLiveWindow({ scheduledUntil: T0, now: T0 + 25 * 24 * H, collectionDelayMs: 0, sliceMs: 40 * 24 * H });
  assert.ok(w.slices.every((s) => s.endMs - s.startMs <= MAX_WINDOW_MS));
});
