/**
 * The fault suite's kill window (test/support/fault-suite.ts): a duplicate is excused only when
 * its first copy arrived from 2 s before a kill until 0.5 s after the killed process exited. These
 * tests hold the documented bounds, show that a copy just outside them counts as a duplicate, and
 * that the audit the fault test asserts catches a widened window or a copy excused wrongly.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyseDeliveries, auditKillWindows, killWindowsOf, KILL_WINDOW_AFTER_EXIT_MS, KILL_WINDOW_BEFORE_KILL_MS, type RunLifetime,
} from '../support/fault-suite';
import { rowKey, type TraceEvent } from '../../shared/model/row';

const TENANT = '2f6a1c3e-0000-4000-8000-000000000001';
const KILL = 1_000_000;
const EXIT = KILL + 40;
// Run 1 killed at KILL, exits at EXIT; run 2 starts 1 s later and resends.
const LIFETIMES: RunLifetime[] = [{ start: KILL - 10_000, killedAt: KILL, exitedAt: EXIT }, { start: EXIT + 1000, exitedAt: EXIT + 20_000 }];

function event(n: number): TraceEvent {
  return { tenantId: TENANT, eventId: `e${n}`, row: { id: `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`, recipientAddress: `r${n}@contoso.com`, receivedDateTime: '2026-03-01T00:00:00Z' } } as unknown as TraceEvent;
}

/** A receiver that got row n first at `firstAt`, and again at `againAt`. */
function receiverWith(copies: [n: number, firstAt: number, againAt: number][]) {
  const events: TraceEvent[] = [];
  const arrivals: { at: number; ackLost: boolean }[] = [];
  for (const [n, firstAt] of copies) {
    events.push(event(n));
    arrivals.push({ at: firstAt, ackLost: false });
  }
  for (const [n, , againAt] of copies) {
    events.push(event(n));
    arrivals.push({ at: againAt, ackLost: false });
  }
  const expected = new Set(copies.map(([n]) => rowKey(TENANT, event(n).row)));
  return { events, arrivals, expected };
}

describe('fault-suite kill window', () => {
  test('its bounds are the documented ones: 2 s before the kill until 0.5 s after the exit', () => {
    assert.equal(KILL_WINDOW_BEFORE_KILL_MS, 2000);
    assert.equal(KILL_WINDOW_AFTER_EXIT_MS, 500);
    assert.deepEqual(killWindowsOf(LIFETIMES), [{ run: 0, from: KILL - 2000, to: EXIT + 500 }]);
  });

  test('copies first sent inside the window are excused; 1 ms outside either bound they count as duplicates', () => {
    const again = EXIT + 3000;
    const r = receiverWith([
      [1, KILL - 2000, again], // first bound: excused
      [2, EXIT + 500, again], // last bound: excused
      [3, KILL - 2001, again], // 1 ms too early: a duplicate
      [4, EXIT + 501, again], // 1 ms too late: a duplicate
      [5, KILL - 60_000, again], // long before: a duplicate
    ]);
    const d = analyseDeliveries('dest', r, r.expected, killWindowsOf(LIFETIMES));
    assert.equal(d.delivered, 5);
    assert.equal(d.killWindowDuplicates, 2);
    assert.equal(d.unexplainedDuplicates, 3);
    assert.deepEqual(auditKillWindows(LIFETIMES, killWindowsOf(LIFETIMES), [d], r.arrivals.map((a) => a.at)), []);
  });

  test('the audit finds a widened window and the copies it would excuse', () => {
    const r = receiverWith([[1, KILL - 5000, EXIT + 3000]]);
    const widened = killWindowsOf(LIFETIMES).map((w) => ({ ...w, from: w.from - 10_000, to: w.to + 10_000 }));
    const d = analyseDeliveries('dest', r, r.expected, widened);
    assert.equal(d.killWindowDuplicates, 1, 'the widened window excuses the copy');
    const problems = auditKillWindows(LIFETIMES, widened, [d], r.arrivals.map((a) => a.at));
    assert.ok(problems.some((p) => /is not the documented \[kill-2000 ms, exit\+500 ms\]/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /lies in no killed run's window/.test(p)), problems.join('\n'));
  });

  test('the audit finds a copy excused although it arrived before the kill, and more copies than later runs could send', () => {
    const windows = killWindowsOf(LIFETIMES);
    const before = auditKillWindows(LIFETIMES, windows, [{ id: 'dest', excused: [{ key: 'k', firstAt: KILL - 1000, at: KILL - 500 }] }], []);
    assert.ok(before.some((p) => /arrived before that kill/.test(p)), before.join('\n'));
    const tooMany = auditKillWindows(LIFETIMES, windows, [{ id: 'dest', excused: [1, 2, 3].map(() => ({ key: 'k', firstAt: KILL - 1000, at: EXIT + 3000 })) }], []);
    assert.ok(tooMany.some((p) => /excused 2 times, but only 1 run\(s\) started after its first copy/.test(p)), tooMany.join('\n'));
  });

  test('the audit finds a run that delivered before the previous kill window closed (the classification would not be sound)', () => {
    const early: RunLifetime[] = [LIFETIMES[0]!, { start: EXIT + 10 }];
    const problems = auditKillWindows(early, killWindowsOf(early), [], [EXIT + 100]);
    assert.ok(problems.some((p) => /inside the previous run's kill window/.test(p)), problems.join('\n'));
  });
});
