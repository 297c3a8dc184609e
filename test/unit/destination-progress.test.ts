/**
 * A destination's progress (shared/delivery/progress.ts): the named transitions, and the bounds
 * of what the progress row holds (invariant 9), tested at ten times their realistic worst case.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  claimDrain, decodeRanges, drained, encodeRanges, handedOff, IllegalProgressTransition, MAX_MISSED_RANGES, mergeRange,
  newProgress, pageUnit, parsePageUnit, recordMissed, replayAdmitted, resume, type MissedRange,
} from '../../shared/delivery/progress';

const NOW = Date.UTC(2026, 11, 1);
const LIMITS = { maxPages: 10, maxBytes: 1e9, maxAgeMs: 86_400_000 };

describe('destination progress', () => {
  it('the first unit handed off makes an ok destination lagging, and counts what waits', () => {
    const p = handedOff(newProgress('s', 'd'), { events: 40, bytes: 900, limits: LIMITS }, NOW);
    assert.deepEqual([p.state, p.since, p.pages, p.events, p.bytes, p.oldestAt], ['lagging', NOW, 1, 40, 900, NOW]);
    const q = handedOff(p, { events: 2, bytes: 10, limits: LIMITS }, NOW + 5);
    assert.deepEqual([q.state, q.since, q.pages, q.events, q.oldestAt], ['lagging', NOW, 2, 42, NOW]);
  });

  it('past a limit a failing destination is parked; one whose drain delivers is not', () => {
    let p = newProgress('s', 'd');
    for (let i = 0; i < 11; i++) p = handedOff(p, { events: 1, bytes: 1, limits: LIMITS }, NOW + i);
    assert.equal(p.state, 'lagging', 'no drain attempt failed yet: a destination catching up is never parked by a hand-off');
    p = { ...p, attempts: 3 };
    p = handedOff(p, { events: 1, bytes: 1, limits: LIMITS }, NOW + 20);
    assert.deepEqual([p.state, p.parkReason, p.parkedAt], ['parked', 'limit:pages', NOW + 20]);
    assert.throws(() => handedOff(p, { events: 1, bytes: 1, limits: LIMITS }, NOW), IllegalProgressTransition);
    const aged = handedOff({ ...newProgress('s', 'd'), state: 'lagging', attempts: 1, oldestAt: NOW - 2 * LIMITS.maxAgeMs, pages: 1 }, { events: 1, bytes: 1, limits: LIMITS }, NOW);
    assert.equal(aged.parkReason, 'limit:age');
    const big = handedOff({ ...newProgress('s', 'd'), attempts: 1 }, { events: 1, bytes: 2e9, limits: LIMITS }, NOW);
    assert.equal(big.parkReason, 'limit:bytes');
  });

  it('a parked destination records the ranges it misses; a replay moves them to re-collection, and only that replay clears them', () => {
    let p = handedOff({ ...newProgress('s', 'd'), attempts: 1, pages: 10 }, { events: 1, bytes: 1, limits: LIMITS }, NOW);
    assert.throws(() => recordMissed(newProgress('s', 'd'), { startMs: 0, endMs: 1, events: 1 }), IllegalProgressTransition);
    p = recordMissed(p, { startMs: NOW, endMs: NOW + 60_000, events: 5 });
    p = recordMissed(p, { startMs: NOW + 60_000, endMs: NOW + 120_000, events: 7 });
    assert.deepEqual(p.missed, [{ startMs: NOW, endMs: NOW + 120_000 }], 'adjacent ranges merge');
    assert.deepEqual([p.missedUnits, p.missedEvents], [2, 12]);
    const r = resume(p, NOW + 1000);
    assert.deepEqual([r.state, r.missed, r.replaying, r.resumedAt, r.parkReason], ['lagging', [], [{ startMs: NOW, endMs: NOW + 120_000 }], NOW + 1000, '']);
    assert.throws(() => replayAdmitted(r, { resumedAt: NOW }), IllegalProgressTransition, 'an older replay cannot clear a newer one');
    assert.deepEqual(replayAdmitted(r, { resumedAt: NOW + 1000 }).replaying, []);
    assert.throws(() => resume(r, NOW), IllegalProgressTransition, 'only a parked destination resumes');
  });

  it('one drain at a time: a live lease of another drain is refused, its own or a lapsed one is not', () => {
    const p = { ...newProgress('s', 'd'), state: 'lagging' as const, claimOwner: 'm1', claimUntil: NOW + 1000 };
    assert.throws(() => claimDrain(p, { owner: 'm2', ttlMs: 60_000 }, NOW), IllegalProgressTransition);
    assert.equal(claimDrain(p, { owner: 'm1', ttlMs: 60_000 }, NOW).claimUntil, NOW + 60_000);
    assert.equal(claimDrain(p, { owner: 'm2', ttlMs: 60_000 }, NOW + 2000).claimOwner, 'm2');
    assert.throws(() => claimDrain(newProgress('s', 'd'), { owner: 'm1', ttlMs: 1 }, NOW), IllegalProgressTransition, 'an ok destination has nothing to drain');
  });

  it('drained: back to ok with nothing counted but the units parked on their own', () => {
    const p = drained({ ...newProgress('s', 'd'), state: 'lagging', pages: 3, events: 9, bytes: 99, oldestAt: NOW, parkedEntries: 2, attempts: 4, drainedEvents: 5 }, { drainedEvents: 9, parkedEntries: 2 }, NOW);
    assert.deepEqual([p.state, p.pages, p.events, p.bytes, p.oldestAt, p.parkedEntries, p.attempts, p.drainedEvents], ['ok', 0, 0, 0, 0, 2, 0, 14]);
  });

  it('missed ranges stay bounded at ten times the bound, and still cover every instant missed', () => {
    let ranges: MissedRange[] = [];
    const added: MissedRange[] = [];
    // 640 disjoint one-minute ranges with gaps of varying length.
    for (let i = 0; i < 10 * MAX_MISSED_RANGES; i++) {
      const r = { startMs: NOW + i * 180_000 + (i % 7) * 1000, endMs: NOW + i * 180_000 + (i % 7) * 1000 + 60_000 };
      added.push(r);
      ranges = mergeRange(ranges, r);
    }
    assert.ok(ranges.length <= MAX_MISSED_RANGES, `${ranges.length} ranges`);
    for (const r of added) assert.ok(ranges.some((m) => m.startMs <= r.startMs && r.endMs <= m.endMs), 'no missed instant is left out');
    for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i - 1]!.endMs < ranges[i]!.startMs, 'sorted and disjoint');
    const text = encodeRanges(ranges);
    assert.ok(text.length < MAX_MISSED_RANGES * 20, `${text.length} characters`);
    assert.deepEqual(decodeRanges(text), ranges);
  });

  it('page units sort by slice then page and parse back', () => {
    assert.deepEqual(parsePageUnit(pageUnit('B-2026-000000000000001-000000000000002', 12)), { sliceId: 'B-2026-000000000000001-000000000000002', page: 12 });
    assert.ok(pageUnit('L-1', 2) < pageUnit('L-1', 10));
    assert.equal(parsePageUnit('D~abc~failed'), undefined);
  });
});
