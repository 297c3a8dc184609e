/**
 * A detail record changes only through these named, pure transitions (as a slice through
 * shared/state/slice-machine.ts). Each takes `(record, input, now)` and returns the new record, or
 * throws IllegalDetailTransition for a move the machine does not allow (a bug, never a race: races
 * are the store's compare-and-swap, `DetailStore.swap`).
 *
 *   pending ──claim──► fetching ──persistAnswer──► fetching ──markProgress*──► fetching ──finish──► done
 *      ▲                  │ release / retryLater ──► pending
 *      │                  └─ park ──► parked ──replay──► pending
 *      └──────────────── skip (cap, retention) ──► skipped
 */
import type { MessageTraceDetail } from '../model/row';
import type { DetailRecord, DetailSkipReason } from './store';

export class IllegalDetailTransition extends Error {
  override readonly name = 'IllegalDetailTransition';
  constructor(transition: string, r: Pick<DetailRecord, 'key' | 'state'>) {
    super(`detail record ${r.key}: transition ${transition} is not allowed from state ${r.state}; this is a bug`);
  }
}

function from(transition: string, r: DetailRecord, states: DetailRecord['state'][]): void {
  if (!states.includes(r.state)) throw new IllegalDetailTransition(transition, r);
}

const UNFINISHED: DetailRecord['state'][] = ['pending', 'fetching'];

/** Takes the record for one worker (lease `ttlMs`); the attempt starts its retry horizon if it is the first. */
export function claim(r: DetailRecord, i: { owner: string; ttlMs: number }, now: number): DetailRecord {
  from('claim', r, UNFINISHED);
  return { ...r, state: 'fetching', claimOwner: i.owner, claimUntil: now + i.ttlMs, firstAttemptAt: r.firstAttemptAt || now, nextAt: 0, updatedAt: now };
}

export function renew(r: DetailRecord, i: { ttlMs: number }, now: number): DetailRecord {
  from('renew', r, ['fetching']);
  return { ...r, claimUntil: now + i.ttlMs, updatedAt: now };
}

/** Gives the claim up without counting an attempt (a budget refusal), its job due at `nextAt`. */
export function release(r: DetailRecord, i: { nextAt: number; partial?: DetailRecord['partial']; requests?: number }, now: number): DetailRecord {
  from('release', r, UNFINISHED);
  const { partial: _old, ...rest } = r;
  return {
    ...rest, ...(i.partial ? { partial: i.partial } : r.partial ? { partial: r.partial } : {}),
    state: 'pending', claimOwner: '', claimUntil: 0, nextAt: i.nextAt, requests: r.requests + (i.requests ?? 0), updatedAt: now,
  };
}

/** Records when an unclaimed record's job is due (a long budget wait), so the sweep does not send another. */
export function touch(r: DetailRecord, i: { nextAt: number }, now: number): DetailRecord {
  from('touch', r, ['pending']);
  return { ...r, nextAt: i.nextAt, updatedAt: now };
}

/** The complete answer, persisted before the first send: every retry delivers these events (invariant 8). */
export function persistAnswer(r: DetailRecord, i: { answer: MessageTraceDetail[]; requests: number }, now: number): DetailRecord {
  from('persistAnswer', r, ['fetching']);
  if (r.answer) throw new IllegalDetailTransition('persistAnswer (an answer is already persisted)', r);
  const { partial: _partial, ...rest } = r;
  return { ...rest, answer: i.answer, fetchedAt: now, requests: r.requests + i.requests, eventCount: i.answer.length, updatedAt: now };
}

/** A destination acknowledged the first `delivered` detail events (all of them: it has the set). */
export function markProgress(r: DetailRecord, i: { destination: string; delivered: number }, now: number): DetailRecord {
  from('markProgress', r, ['fetching']);
  if (!r.answer) throw new IllegalDetailTransition('markProgress (no persisted answer)', r);
  const delivered = Math.min(r.answer.length, Math.max(r.marks[i.destination] ?? 0, i.delivered));
  return { ...r, marks: { ...r.marks, [i.destination]: delivered }, updatedAt: now };
}

/** Every destination has the events: done; the answer is dropped (nothing will send it again), the row kept. */
export function finish(r: DetailRecord, now: number): DetailRecord {
  from('finish', r, ['fetching']);
  if (!r.answer) throw new IllegalDetailTransition('finish (no persisted answer)', r);
  const { answer: _a, partial: _p, ...rest } = r;
  return { ...rest, state: 'done', claimOwner: '', claimUntil: 0, nextAt: 0, lastError: '', doneAt: now, updatedAt: now };
}

export function skip(r: DetailRecord, i: { reason: DetailSkipReason }, now: number): DetailRecord {
  from('skip', r, UNFINISHED);
  const { answer: _a, partial: _p, ...rest } = r;
  return { ...rest, state: 'skipped', skipReason: i.reason, claimOwner: '', claimUntil: 0, nextAt: 0, doneAt: now, updatedAt: now };
}

/** A failed attempt to be tried again at `nextAt` (its job is already on the queue). */
export function retryLater(r: DetailRecord, i: { lastError: string; nextAt: number; requests: number }, now: number): DetailRecord {
  from('retryLater', r, ['fetching']);
  return { ...r, state: 'pending', claimOwner: '', claimUntil: 0, attempts: r.attempts + 1, lastError: i.lastError, nextAt: i.nextAt, requests: r.requests + i.requests, updatedAt: now };
}

export function park(r: DetailRecord, i: { reason: string; lastError: string; requests?: number }, now: number): DetailRecord {
  from('park', r, UNFINISHED);
  return { ...r, state: 'parked', parkReason: i.reason, lastError: i.lastError, claimOwner: '', claimUntil: 0, nextAt: 0, requests: r.requests + (i.requests ?? 0), parkedAt: now, updatedAt: now };
}

/** Back to pending with a fresh retry horizon (the persisted answer and the marks are kept). */
export function replay(r: DetailRecord, i: { automatic: boolean }, now: number): DetailRecord {
  from('replay', r, ['parked']);
  return { ...r, state: 'pending', parkReason: '', parkedAt: 0, attempts: 0, firstAttemptAt: 0, nextAt: 0, autoReplays: r.autoReplays + (i.automatic ? 1 : 0), updatedAt: now };
}
