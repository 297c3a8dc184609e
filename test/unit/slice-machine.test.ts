/**
 * The slice state machine (shared/state/slice-machine): each named transition, what it changes,
 * what it keeps, and the moves it refuses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newSlice, type SliceRow } from '../../shared/state/ledger';
import {
  IllegalSliceTransition, MAX_INLINE_COPY_CHARS, MAX_INLINE_NEXTLINK, claim, countLinkFailure, heal, keepCopy, markDelivered, markProgress, newGapSlice,
  newSkippedSlice, park, recordPage, release, renew, replay, retryLater, touch,
} from '../../shared/state/slice-machine';

const T = Date.UTC(2026, 10, 22, 8, 0, 0);
const TTL = 60_000;
const fields = { sourceId: 'contoso', id: 'L-1-2', kind: 'live' as const, runId: '', startMs: T - 3_600_000, endMs: T };

function planned(patch: Partial<SliceRow> = {}): SliceRow {
  return { ...newSlice(fields, T - 1000), etag: 'W/"1"', ...patch };
}
/** A slice claimed by worker m1 at time T. */
function claimed(patch: Partial<SliceRow> = {}): SliceRow {
  return claim(planned(patch), { owner: 'm1', ttlMs: TTL }, T);
}
const refused = (name: string) => (err: unknown) => err instanceof IllegalSliceTransition && err.transition === name && /this is a bug/.test(err.message);

describe('slice state machine: new rows', () => {
  it('a skipped re-read and a history gap are created done, with their reason', () => {
    const skipped = newSkippedSlice({ ...fields, id: 'R0-1-2', kind: 'rescan' }, T);
    assert.deepEqual([skipped.state, skipped.parkReason, skipped.page, skipped.createdAt], ['done', 'not-needed', 0, T]);
    const gap = newGapSlice(fields, '{"code":"ExpiredHistory"}', T);
    assert.deepEqual([gap.state, gap.parkReason, gap.lastError], ['done', 'expired-history', '{"code":"ExpiredHistory"}']);
  });
});

describe('slice state machine: claim', () => {
  it('claim takes an unclaimed page: fetching, owner, lease, one more attempt, first attempt time kept', () => {
    const s = claimed();
    assert.deepEqual([s.state, s.claimOwner, s.claimUntil, s.attempts, s.firstAttemptAt, s.updatedAt, s.etag], ['fetching', 'm1', T + TTL, 1, T, T, 'W/"1"']);
    const again = claim(planned({ state: 'fetching', attempts: 2, firstAttemptAt: T - 5000, claimOwner: 'dead', claimUntil: T - 1 }), { owner: 'm2', ttlMs: TTL }, T);
    assert.deepEqual([again.claimOwner, again.attempts, again.firstAttemptAt], ['m2', 3, T - 5000], 'a lapsed claim is taken over; the first attempt time stays');
  });

  it('claim refuses a live claim, a done or parked slice, and an empty owner', () => {
    assert.throws(() => claim(claimed(), { owner: 'm2', ttlMs: TTL }, T + 10), refused('claim'));
    assert.throws(() => claim(planned({ state: 'done' }), { owner: 'm2', ttlMs: TTL }, T), refused('claim'));
    assert.throws(() => claim(planned({ state: 'parked' }), { owner: 'm2', ttlMs: TTL }, T), refused('claim'));
    assert.throws(() => claim(planned(), { owner: '', ttlMs: TTL }, T), refused('claim'));
  });

  it('renew extends the lease of a claimed slice only', () => {
    const s = renew(claimed(), { ttlMs: TTL }, T + 20_000);
    assert.deepEqual([s.claimOwner, s.claimUntil, s.updatedAt], ['m1', T + 20_000 + TTL, T + 20_000]);
    assert.throws(() => renew(planned(), { ttlMs: TTL }, T), refused('renew'));
    assert.throws(() => renew(planned({ state: 'done' }), { ttlMs: TTL }, T), refused('renew'));
  });
});

describe('slice state machine: delivery marks', () => {
  it('markProgress records a partial delivery (rows add up, the index is the page copy offset)', () => {
    let s = markProgress(claimed(), { destination: 'siem', page: 0, delivered: 25, partialCount: 25 });
    s = markProgress(s, { destination: 'siem', page: 0, delivered: 10, partialCount: 35 });
    assert.deepEqual(s.marks, { siem: { pagesDone: 0, rows: 35, partialCount: 35 } });
  });

  it('markDelivered finishes the page for one destination and drops its partial index', () => {
    const s = markDelivered(markProgress(claimed(), { destination: 'siem', page: 0, delivered: 5, partialCount: 5 }), { destination: 'siem', page: 0 });
    assert.deepEqual(s.marks, { siem: { pagesDone: 1, rows: 5 } });
  });

  it('marks are refused without a claim, for another page, or backwards', () => {
    assert.throws(() => markProgress(planned(), { destination: 'siem', page: 0, delivered: 1, partialCount: 1 }), refused('markProgress'));
    assert.throws(() => markProgress(claimed(), { destination: 'siem', page: 1, delivered: 1, partialCount: 1 }), refused('markProgress'));
    assert.throws(() => markProgress(claimed({ marks: { siem: { pagesDone: 1, rows: 3 } } }), { destination: 'siem', page: 0, delivered: 1, partialCount: 1 }), refused('markProgress'));
    assert.throws(() => markProgress(claimed(), { destination: 'siem', page: 0, delivered: -1, partialCount: 0 }), refused('markProgress'));
    assert.throws(() => markDelivered(planned(), { destination: 'siem', page: 0 }), refused('markDelivered'));
    assert.throws(() => markDelivered(claimed(), { destination: 'siem', page: 2 }), refused('markDelivered'));
  });
});

describe('slice state machine: recordPage', () => {
  const page = { page: 0, boundaryKeys: ['k1'], oldestMs: T - 60_000, rows: 40, requests: 1 };

  it('with a continuation: next page, continuation inline, claim released, retry bookkeeping reset', () => {
    const s = recordPage({ ...claimed({ lastError: 'x', linkFailures: 2 }), resumeUntil: 5 }, { ...page, nextLink: 'https://next' }, T + 5);
    assert.deepEqual(
      [s.state, s.page, s.nextLink, s.boundaryKeys, s.carryPage, s.rows, s.requests, s.attempts, s.firstAttemptAt, s.lastError, s.linkFailures, s.resumeUntil, s.oldestMs, s.claimOwner, s.claimUntil, s.updatedAt],
      ['fetching', 1, 'https://next', ['k1'], -1, 40, 1, 0, 0, '', 0, 0, T - 60_000, '', 0, T + 5],
    );
  });

  it('without a continuation the slice is done; the oldest row only moves back', () => {
    const s = recordPage(claimed({ oldestMs: T - 120_000, rows: 7, requests: 3 }), { ...page, oldestMs: T - 60_000 }, T);
    assert.deepEqual([s.state, s.page, s.nextLink, s.carryPage, s.rows, s.requests, s.oldestMs], ['done', 1, '', -1, 47, 4, T - 120_000]);
    const empty = recordPage(claimed({ oldestMs: T - 120_000 }), { ...page, oldestMs: 0 }, T);
    assert.equal(empty.oldestMs, T - 120_000, 'a page without rows keeps the oldest instant');
  });

  it('a continuation too large for the row stays in the page copy (carryPage)', () => {
    const s = recordPage(claimed(), { ...page, nextLink: `https://next?$skiptoken=${'x'.repeat(MAX_INLINE_NEXTLINK)}` }, T);
    assert.deepEqual([s.state, s.page, s.nextLink, s.boundaryKeys, s.carryPage], ['fetching', 1, '', [], 0]);
  });

  it('recordPage is refused without a claim, for another page, or on a done slice', () => {
    assert.throws(() => recordPage(planned({ state: 'fetching' }), page, T), refused('recordPage'));
    assert.throws(() => recordPage(claimed(), { ...page, page: 1 }, T), refused('recordPage'));
    assert.throws(() => recordPage(planned({ state: 'done', claimOwner: 'm1' }), page, T), refused('recordPage'));
  });
});

describe('slice state machine: a small page copy in the row', () => {
  it('keepCopy keeps the copy of the current page; a retry, a park and a replay keep it; recordPage drops it', () => {
    const s = keepCopy(claimed(), { page: 0, copy: 'H4sI' + 'A'.repeat(100) });
    assert.deepEqual([s.copy?.length, s.copyPage, s.claimOwner], [104, 0, 'm1']);
    const retried = retryLater(s, { requests: 1, lastError: 'x' }, T + 1);
    assert.equal(retried.copy, s.copy, 'a retry delivers the same copy');
    const parked = park(s, { reason: 'horizon', lastError: 'x', requests: 0 }, T + 1);
    assert.equal(replay(parked, { automatic: false }, T + 2).copy, s.copy, 'a replay of the parked page delivers the same copy');
    const recorded = recordPage(s, { page: 0, nextLink: 'https://next', boundaryKeys: [], oldestMs: T - 10, rows: 5, requests: 1 }, T + 1);
    assert.equal('copy' in recorded || 'copyPage' in recorded, false, 'the recorded page\'s copy leaves the row');
  });

  it('keepCopy is refused without a claim, for another page, over the page\'s copy, and above MAX_INLINE_COPY_CHARS', () => {
    assert.throws(() => keepCopy(planned(), { page: 0, copy: 'x' }), refused('keepCopy'));
    assert.throws(() => keepCopy(claimed(), { page: 1, copy: 'x' }), refused('keepCopy'));
    assert.throws(() => keepCopy(keepCopy(claimed(), { page: 0, copy: 'x' }), { page: 0, copy: 'y' }), refused('keepCopy'), 'a copy is written once');
    assert.equal(keepCopy(claimed(), { page: 0, copy: 'x'.repeat(MAX_INLINE_COPY_CHARS) }).copy?.length, MAX_INLINE_COPY_CHARS);
    assert.throws(() => keepCopy(claimed(), { page: 0, copy: 'x'.repeat(MAX_INLINE_COPY_CHARS + 1) }), refused('keepCopy'));
    assert.throws(() => keepCopy(claimed(), { page: 0, copy: '' }), refused('keepCopy'));
  });
});

describe('slice state machine: release, retry later, heal', () => {
  it('release gives the claim and the attempt back (budget refusal)', () => {
    const s = release(claimed(), T + 1);
    assert.deepEqual([s.state, s.claimOwner, s.claimUntil, s.attempts, s.updatedAt], ['fetching', '', 0, 0, T + 1]);
    assert.throws(() => release(planned(), T), refused('release'));
  });

  it('retryLater releases the claim, counts the requests and keeps the error', () => {
    const s = retryLater(claimed({ requests: 2 }), { requests: 1, lastError: '{"code":"Http503"}' }, T + 1);
    assert.deepEqual([s.state, s.claimOwner, s.claimUntil, s.requests, s.lastError, s.attempts], ['fetching', '', 0, 3, '{"code":"Http503"}', 1]);
    assert.throws(() => retryLater(planned(), { requests: 0, lastError: '' }, T), refused('retryLater'));
    assert.throws(() => retryLater(planned({ state: 'done' }), { requests: 0, lastError: '' }, T), refused('retryLater'));
  });

  it('countLinkFailure counts 400s on a continuation only', () => {
    const onLink = claimed({ page: 3, nextLink: 'https://next', linkFailures: 1 });
    assert.equal(countLinkFailure(onLink).linkFailures, 2);
    assert.throws(() => countLinkFailure(claimed()), refused('countLinkFailure'), 'page 0 is a window query');
    assert.throws(() => countLinkFailure(claimed({ page: 3, resumeUntil: T })), refused('countLinkFailure'), 'a healed slice re-queries a window');
    assert.throws(() => countLinkFailure(planned({ page: 3 })), refused('countLinkFailure'));
  });

  it('heal drops the continuation and re-queries up to just after the oldest row', () => {
    const s = heal(claimed({ page: 3, nextLink: 'https://bad', linkFailures: 3, oldestMs: T - 600_000, requests: 5 }), { requests: 1, lastError: '{"code":"CorruptNextLink"}' }, T + 1);
    assert.deepEqual([s.nextLink, s.resumeUntil, s.linkFailures, s.requests, s.claimOwner, s.claimUntil, s.page, s.state], ['', T - 600_000 + 1, 0, 6, '', 0, 3, 'fetching']);
    assert.equal(heal(claimed({ page: 3, oldestMs: 0 }), { requests: 0, lastError: '' }, T).resumeUntil, fields.endMs, 'no row yet: the whole slice');
    assert.throws(() => heal(claimed(), { requests: 0, lastError: '' }, T), refused('heal'));
    assert.throws(() => heal(planned({ page: 3 }), { requests: 0, lastError: '' }, T), refused('heal'));
  });
});

describe('slice state machine: park, replay, touch', () => {
  it('park from a claim or unclaimed (stopped source, poison): parked with reason and time, claim released', () => {
    const s = park(claimed({ requests: 1 }), { reason: 'horizon', requests: 2, lastError: '{"code":"Http503"}' }, T + 9);
    assert.deepEqual([s.state, s.parkReason, s.parkedAt, s.requests, s.claimOwner, s.claimUntil, s.lastError, s.updatedAt], ['parked', 'horizon', T + 9, 3, '', 0, '{"code":"Http503"}', T + 9]);
    assert.equal(park(planned(), { reason: 'poison', requests: 0, lastError: '' }, T).state, 'parked');
  });

  it('park is refused on a done or parked slice and without a reason', () => {
    assert.throws(() => park(planned({ state: 'done' }), { reason: 'poison', requests: 0, lastError: '' }, T), refused('park'));
    assert.throws(() => park(planned({ state: 'parked', parkReason: 'horizon' }), { reason: 'poison', requests: 0, lastError: '' }, T), refused('park'));
    assert.throws(() => park(planned(), { reason: '', requests: 0, lastError: '' }, T), refused('park'));
  });

  it('replay resumes a parked slice at its page with fresh bookkeeping; automatic replays are counted', () => {
    const parked = park(claimed({ page: 2, linkFailures: 1 }), { reason: 'horizon', requests: 0, lastError: 'e' }, T);
    const s = replay(parked, { automatic: true }, T + 1);
    assert.deepEqual([s.state, s.page, s.attempts, s.firstAttemptAt, s.linkFailures, s.parkReason, s.parkedAt, s.autoReplays, s.claimOwner], ['fetching', 2, 0, 0, 0, '', 0, 1, '']);
    assert.equal(replay(park(planned(), { reason: 'poison', requests: 0, lastError: '' }, T), { automatic: false }, T).state, 'pending', 'page 0: pending again');
    assert.equal(replay(parked, { automatic: false }, T).autoReplays, 0);
  });

  it('replay is refused on a slice that is not parked', () => {
    assert.throws(() => replay(planned(), { automatic: false }, T), refused('replay'));
    assert.throws(() => replay(planned({ state: 'done' }), { automatic: true }, T), refused('replay'));
    assert.throws(() => replay(claimed(), { automatic: true }, T), refused('replay'));
  });

  it('touch marks an unclaimed open slice as seen, and refuses a live claim or a finished slice', () => {
    assert.equal(touch(planned(), T + 5).updatedAt, T + 5);
    assert.throws(() => touch(claimed(), T + 5), refused('touch'));
    assert.throws(() => touch(planned({ state: 'done' }), T), refused('touch'));
  });
});
