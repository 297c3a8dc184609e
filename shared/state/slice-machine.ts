/**
 * The slice state machine: the only way a slice row changes.
 *
 *   planned ──claim──▶ fetching (claimed) ──recordPage──▶ fetching (next page) … ──recordPage──▶ done
 *      ▲                  │  │  │  └─release (budget refusal)─▶ unclaimed, attempt given back
 *      │                  │  │  └─retryLater──▶ unclaimed, retried by a delayed job
 *      │                  │  └─heal (nextLink failed N times)──▶ unclaimed, re-query the rest of the slice
 *      │                  └─park──▶ parked ──replay──▶ pending / fetching
 *      └─ (pending and fetching also park: a stopped source, a poison message)
 *
 * While claimed: renew (heartbeat, every holder write), markProgress (a destination acknowledged a
 * batch of the page), markDelivered (a destination has the whole page), markHandedOff (the page went
 * to a destination's backlog instead, shared/delivery), countLinkFailure (a 400 on
 * the continuation), keepCopy (the fetched page's small copy, before its first send; recordPage
 * drops it). Unclaimed and untouched for long: touch (recovery re-enqueues its job).
 * New rows: newSlice (ledger.ts), newSkippedSlice, newGapSlice.
 *
 * Every transition is a pure function (slice, input, now) → new slice, and refuses a move the
 * machine does not allow with an IllegalSliceTransition (a bug in the caller, never a lost race:
 * races are the ledger's compare-and-swap, `Ledger.swapSlice`, the one write path).
 */
import type { DestinationMark, SliceRow } from './ledger';
import { newSlice } from './ledger';

/**
 * Largest continuation and boundary-key list kept in the slice row (ARCHITECTURE invariant 9:
 * a Table string property holds 32K characters). Larger ones stay in the page copy the row
 * points to (`carryPage`).
 */
export const MAX_INLINE_NEXTLINK = 8_000;
export const MAX_INLINE_BOUNDARY_CHARS = 12_000;

/**
 * Largest page copy kept in the slice row itself (gzip JSON as base64; a quiet tenant's page of a
 * few dozen rows is a few thousand characters). A larger copy goes to the page store.
 */
export const MAX_INLINE_COPY_CHARS = 24_000;

/** Whether the next request's continuation and boundary keys fit in the slice row. */
export function fitsInline(content: { nextLink?: string | undefined; boundaryKeys: string[] }): boolean {
  return (content.nextLink ?? '').length <= MAX_INLINE_NEXTLINK && JSON.stringify(content.boundaryKeys).length <= MAX_INLINE_BOUNDARY_CHARS;
}

export type SliceTransition =
  | 'claim' | 'renew' | 'markProgress' | 'markDelivered' | 'markHandedOff' | 'recordPage' | 'release' | 'countLinkFailure'
  | 'heal' | 'retryLater' | 'park' | 'replay' | 'touch' | 'keepCopy';

/** A transition the machine does not allow from the slice's state: a bug in the caller. */
export class IllegalSliceTransition extends Error {
  override readonly name = 'IllegalSliceTransition';
  readonly code = 'IllegalSliceTransition';
  constructor(readonly transition: SliceTransition, slice: Pick<SliceRow, 'id' | 'state' | 'page' | 'claimOwner'>, why: string) {
    super(`slice ${slice.id} (state ${slice.state}, page ${slice.page}${slice.claimOwner ? ', claimed' : ''}): ${transition} refused: ${why}; this is a bug in the collector`);
  }
}

function refuse(transition: SliceTransition, slice: SliceRow, why: string): never {
  throw new IllegalSliceTransition(transition, slice, why);
}

function requireOpen(t: SliceTransition, s: SliceRow): void {
  if (s.state !== 'pending' && s.state !== 'fetching') refuse(t, s, `the slice is ${s.state}`);
}

function requireClaimed(t: SliceTransition, s: SliceRow): void {
  if (s.state !== 'fetching') refuse(t, s, `only a claimed (fetching) slice can ${t}, not a ${s.state} one`);
  if (!s.claimOwner) refuse(t, s, 'the slice is not claimed');
}

/** Released claim fields: no owner, no lease. */
const UNCLAIMED = { claimOwner: '', claimUntil: 0 } as const;

// ---- new rows -------------------------------------------------------------------------------

type SliceFields = Pick<SliceRow, 'sourceId' | 'id' | 'kind' | 'runId' | 'startMs' | 'endMs'>;

/** A planned re-read that is not needed (the live read came after its age): done at once, no job. */
export function newSkippedSlice(fields: SliceFields, now: number): Omit<SliceRow, 'etag'> {
  return { ...newSlice(fields, now), state: 'done', parkReason: 'not-needed' };
}

/** A live range older than the API's history: done at once as a gap (expired-history), no job. */
export function newGapSlice(fields: SliceFields, lastError: string, now: number): Omit<SliceRow, 'etag'> {
  return { ...newSlice(fields, now), state: 'done', parkReason: 'expired-history', lastError };
}

// ---- claimed work -----------------------------------------------------------------------------

/** Takes the page: a lease of `ttlMs` for `owner`, one more attempt. Refused over a live claim. */
export function claim(slice: SliceRow, input: { owner: string; ttlMs: number }, now: number): SliceRow {
  requireOpen('claim', slice);
  if (!input.owner) refuse('claim', slice, 'a claim needs an owner');
  if (slice.claimOwner && slice.claimUntil > now) refuse('claim', slice, 'another worker holds a live claim');
  return {
    ...slice, state: 'fetching', claimOwner: input.owner, claimUntil: now + input.ttlMs,
    attempts: slice.attempts + 1, firstAttemptAt: slice.firstAttemptAt || now, updatedAt: now,
  };
}

/** Extends the holder's lease (every write of the holder renews it). */
export function renew(slice: SliceRow, input: { ttlMs: number }, now: number): SliceRow {
  requireClaimed('renew', slice);
  return { ...slice, claimUntil: now + input.ttlMs, updatedAt: now };
}

/** A destination acknowledged `delivered` more events of page `page`; `partialCount` events of the page copy are now delivered. */
export function markProgress(slice: SliceRow, input: { destination: string; page: number; delivered: number; partialCount: number }): SliceRow {
  requireClaimed('markProgress', slice);
  if (input.page !== slice.page) refuse('markProgress', slice, `progress for page ${input.page} while the slice is at page ${slice.page}`);
  if (input.delivered < 0 || input.partialCount < 0) refuse('markProgress', slice, 'a delivery count cannot be negative');
  const cur: DestinationMark = slice.marks[input.destination] ?? { pagesDone: input.page, rows: 0 };
  if (cur.pagesDone > input.page) refuse('markProgress', slice, `destination ${input.destination} already has page ${input.page}`);
  return { ...slice, marks: { ...slice.marks, [input.destination]: { pagesDone: input.page, rows: cur.rows + input.delivered, partialCount: input.partialCount, ...handedOffOf(cur) } } };
}

/** A destination has every event of page `page`. */
export function markDelivered(slice: SliceRow, input: { destination: string; page: number }): SliceRow {
  requireClaimed('markDelivered', slice);
  if (input.page !== slice.page) refuse('markDelivered', slice, `page ${input.page} delivered while the slice is at page ${slice.page}`);
  const cur: DestinationMark = slice.marks[input.destination] ?? { pagesDone: input.page, rows: 0 };
  return { ...slice, marks: { ...slice.marks, [input.destination]: { pagesDone: input.page + 1, rows: cur.rows, ...handedOffOf(cur) } } };
}

function handedOffOf(mark: DestinationMark): { handedOff?: number } {
  return mark.handedOff ? { handedOff: mark.handedOff } : {};
}

/**
 * The destination did not take page `page` directly: the page is in its backlog (shared/delivery),
 * which delivers it; for the slice the page is done for that destination.
 */
export function markHandedOff(slice: SliceRow, input: { destination: string; page: number }): SliceRow {
  requireClaimed('markHandedOff', slice);
  if (input.page !== slice.page) refuse('markHandedOff', slice, `page ${input.page} handed off while the slice is at page ${slice.page}`);
  const cur: DestinationMark = slice.marks[input.destination] ?? { pagesDone: input.page, rows: 0 };
  return { ...slice, marks: { ...slice.marks, [input.destination]: { pagesDone: input.page + 1, rows: cur.rows, handedOff: (cur.handedOff ?? 0) + 1 } } };
}

export interface RecordedPage {
  /** The page recorded (the slice's current page). */
  page: number;
  /** The continuation to the next page; none = the slice is done. */
  nextLink?: string | undefined;
  boundaryKeys: string[];
  /** The oldest receivedDateTime (ms) of the page, 0 when it had none. */
  oldestMs: number;
  /** Events the page forwarded. */
  rows: number;
  /** API requests this attempt made. */
  requests: number;
}

/**
 * Records page `page` done by every destination and releases the claim: the slice moves to the
 * next page (its continuation and boundary keys inline, or in the page copy when too large), or
 * is done when the page had no continuation. Retry bookkeeping starts over.
 */
export function recordPage(slice: SliceRow, input: RecordedPage, now: number): SliceRow {
  requireClaimed('recordPage', slice);
  if (input.page !== slice.page) refuse('recordPage', slice, `page ${input.page} recorded while the slice is at page ${slice.page}`);
  const done = !input.nextLink;
  const inline = fitsInline(input);
  const { copy: _copy, copyPage: _copyPage, ...rest } = slice;
  return {
    ...rest, ...UNCLAIMED,
    page: input.page + 1,
    nextLink: inline ? input.nextLink ?? '' : '',
    boundaryKeys: inline ? input.boundaryKeys : [],
    carryPage: inline || done ? -1 : input.page,
    rows: slice.rows + input.rows,
    requests: slice.requests + input.requests,
    state: done ? 'done' : 'fetching',
    attempts: 0,
    firstAttemptAt: 0,
    lastError: '',
    linkFailures: 0,
    resumeUntil: 0,
    oldestMs: slice.oldestMs ? Math.min(slice.oldestMs, input.oldestMs || slice.oldestMs) : input.oldestMs,
    updatedAt: now,
  };
}

/**
 * The holder keeps the copy of the page it fetched in the row (before its first send): small, so no
 * page-store entity to write and delete (issue 19). Refused over an existing copy of the page (a
 * copy is written once: every later attempt delivers it) or one too large for the row.
 */
export function keepCopy(slice: SliceRow, input: { page: number; copy: string }): SliceRow {
  requireClaimed('keepCopy', slice);
  if (input.page !== slice.page) refuse('keepCopy', slice, `a copy of page ${input.page} while the slice is at page ${slice.page}`);
  if (slice.copy && slice.copyPage === input.page) refuse('keepCopy', slice, `page ${input.page} has its copy already`);
  if (!input.copy || input.copy.length > MAX_INLINE_COPY_CHARS) refuse('keepCopy', slice, `a copy of ${input.copy.length} characters does not belong in the row (at most ${MAX_INLINE_COPY_CHARS})`);
  return { ...slice, copy: input.copy, copyPage: input.page };
}

/** Gives the claim up without recording the page (the tenant budget refused): the attempt does not count. */
export function release(slice: SliceRow, now: number): SliceRow {
  requireClaimed('release', slice);
  return { ...slice, ...UNCLAIMED, attempts: Math.max(0, slice.attempts - 1), updatedAt: now };
}

/** One more 400 on the current continuation (self-healing pagination counts them). */
export function countLinkFailure(slice: SliceRow): SliceRow {
  requireClaimed('countLinkFailure', slice);
  if (slice.page === 0 || slice.resumeUntil) refuse('countLinkFailure', slice, 'the slice is not reading a continuation');
  return { ...slice, linkFailures: slice.linkFailures + 1 };
}

/**
 * Self-healing pagination: drops the continuation that failed and re-queries the rest of the slice
 * (up to just after the oldest row received), releasing the claim. `resumeUntil` is in the result.
 */
export function heal(slice: SliceRow, input: { requests: number; lastError: string }, now: number): SliceRow {
  requireClaimed('heal', slice);
  if (slice.page === 0) refuse('heal', slice, 'page 0 has no continuation to heal');
  const resumeUntil = slice.oldestMs ? Math.min(slice.endMs, slice.oldestMs + 1) : slice.endMs;
  return {
    ...slice, ...UNCLAIMED, nextLink: '', resumeUntil, linkFailures: 0, requests: slice.requests + input.requests,
    lastError: input.lastError, updatedAt: now,
  };
}

/** The attempt failed and will be retried by a delayed job: the claim is released, the error kept. */
export function retryLater(slice: SliceRow, input: { requests: number; lastError: string }, now: number): SliceRow {
  requireClaimed('retryLater', slice);
  return { ...slice, ...UNCLAIMED, requests: slice.requests + input.requests, lastError: input.lastError, updatedAt: now };
}

// ---- parked and recovered -----------------------------------------------------------------------

/**
 * Parks the slice: it holds the watermark back, shows in status and waits for a replay. From a
 * claim (a failure past the retry horizon, a permanent one) or unclaimed (a stopped source, a
 * poison message).
 */
export function park(slice: SliceRow, input: { reason: string; requests: number; lastError: string }, now: number): SliceRow {
  requireOpen('park', slice);
  if (!input.reason) refuse('park', slice, 'a parked slice needs a reason');
  return {
    ...slice, ...UNCLAIMED, state: 'parked', parkReason: input.reason, parkedAt: now, requests: slice.requests + input.requests,
    lastError: input.lastError, updatedAt: now,
  };
}

/** Replays a parked slice from its current page with fresh retry bookkeeping (manual or automatic after recovery). */
export function replay(slice: SliceRow, input: { automatic: boolean }, now: number): SliceRow {
  if (slice.state !== 'parked') refuse('replay', slice, `only a parked slice is replayed, not a ${slice.state} one`);
  return {
    ...slice, ...UNCLAIMED, state: slice.page === 0 ? 'pending' : 'fetching', attempts: 0, firstAttemptAt: 0, linkFailures: 0,
    parkReason: '', parkedAt: 0, autoReplays: slice.autoReplays + (input.automatic ? 1 : 0), updatedAt: now,
  };
}

/** Marks an unclaimed open slice as seen now (recovery re-enqueues its lost job; the swap keeps two recoveries from both doing it). */
export function touch(slice: SliceRow, now: number): SliceRow {
  requireOpen('touch', slice);
  if (slice.claimOwner && slice.claimUntil > now) refuse('touch', slice, 'a worker holds a live claim');
  return { ...slice, updatedAt: now };
}
