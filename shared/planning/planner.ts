/**
 * The planner: per source, read the cursor, cut the next window into slices, record them in the
 * cursor's outbox and advance the cursor by compare-and-swap, then write the slice rows and enqueue
 * one page job per slice, then clear the outbox.
 *
 * Crash safety (ARCHITECTURE invariant 1): the cursor and the outbox move in ONE conditional write,
 * so a planner that dies after it still leaves the planned slices in the outbox; a later run
 * relays them (slice rows are created idempotently, duplicate jobs are absorbed by the worker's
 * claim). Two planners racing: the loser's conditional write fails and it does nothing (invariant 4).
 */
import type { SourceConfig } from '../components';
import type { Logger } from '../log';
import type { CursorRow, HealthRow, Ledger, PendingSlice } from '../state/ledger';
import { liveSliceId, MAX_OUTBOX_SLICES, newSlice, plannedSliceFields } from '../state/ledger';
import { MAX_CREATED_ETAG, pageJob, type JobQueue, type PageJob } from '../queue/jobs';
import type { PageJobBatcher } from '../queue/batcher';
import { newGapSlice, newSkippedSlice } from '../state/slice-machine';
import type { Clock } from '../time/clock';
import { clampToHistory, resolveTimeSpec } from '../time/expressions';
import { floorTo, MAX_WINDOW_MS, SECOND } from './windows';
import { cutLiveRange } from './density';
import { checkpointDensity, decodeCheckpoint, encodeCheckpoint, liveReadDoneAt, pruneLiveReads, readSinceCheckpoint } from './checkpoint';
import { liveSliceForLag } from '../budget';
import { CollectorError } from '../errors';
import type { Telemetry } from '../telemetry';
import { recoverSource } from '../recovery';
import type { BacklogStore } from '../delivery/progress';
import type { DetailStore } from '../details/store';
import { planRescans } from '../settle/planning';
import { advanceSettled } from '../settle/settled';
import type { SeenStore } from '../settle/seen-store';
import { setSourceState, writeSourceState } from '../health';
import type { PlanPrefetch } from './prefetch';

/** Live slices planned in one run at most (the outbox holds MAX_OUTBOX_SLICES with re-reads). */
export const MAX_LIVE_SLICES_PER_RUN = 200;

/**
 * The lag a source may add beyond its collection delay: two poll intervals (the lag target the
 * benchmark checks, collection delay + 2 poll intervals). Live slices span as many whole intervals
 * as it holds while one request is expected to hold them (liveSliceForLag, issue 19): a quiet
 * tenant's slice covers two intervals, one request instead of two; a tenant of more than half a
 * page per interval keeps one interval per slice.
 */
export const LIVE_SLICE_TARGET = (source: Pick<SourceConfig, 'pollIntervalMs'>) => ({
  lagTargetMs: 2 * source.pollIntervalMs,
});

/** The outbox is relayed by another planner only when it is older than this (its writer likely died). */
export const OUTBOX_STALE_MS = 2 * 60_000;

export interface PlannerDeps {
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  configHashOf(source: SourceConfig): string;
  /** Age after which another planner relays an outbox (default OUTBOX_STALE_MS). */
  outboxStaleMs?: number;
  /** The seen-store (settle re-reads). */
  seen?: SeenStore;
  /** The destinations' backlogs (shared/delivery): the sweep restarts a lost drain and measures them. */
  backlog?: BacklogStore;
  /** The detail records (detail enrichment): the recovery pass sweeps them. */
  details?: DetailStore;
  /**
   * The timer run's batcher (shared/queue/batcher.ts): the first page jobs of small live slices go
   * out in page batches with other sources' (issue 19). Without it every job is its own message.
   */
  batcher?: PageJobBatcher;
  /**
   * Runs the part of a source's planning that follows the "due" decision, in the timer's `mtc.plan`
   * span (functions/plan.ts), so a run with nothing due for the source records none.
   */
  inSpan?: (run: () => Promise<PlanOutcome>) => Promise<PlanOutcome>;
  /**
   * The timer run's rows, read for every source at once (prefetch.ts, planSources): the source's
   * first cursor and health reads take them instead of a point read each.
   */
  prefetch?: PlanPrefetch;
}

/**
 * A live slice is small enough to share a batch when the density its source measured puts fewer
 * rows in it than a tenth of a page: its entry's page then costs a batch little memory, and ten
 * times the expected rows (a distribution-list burst) still fit one page. A source with no measured
 * density (a new one) sends its own jobs.
 */
export const BATCHABLE_PAGE_SHARE = 0.1;

export function isBatchable(source: Pick<SourceConfig, 'pageSize'>, slice: Pick<PendingSlice, 'startMs' | 'endMs' | 'kind' | 'skip' | 'gap'>, density: number | undefined): boolean {
  if ((slice.kind ?? 'live') !== 'live' || slice.skip || slice.gap) return false;
  if (density === undefined || !(density >= 0)) return false;
  return density * (slice.endMs - slice.startMs) <= BATCHABLE_PAGE_SHARE * source.pageSize;
}

export type PlanOutcome =
  | { outcome: 'planned'; slices: number; scheduledUntil: number; relayed: number }
  | { outcome: 'not-due' | 'nothing-to-plan' | 'disabled' | 'stopped'; relayed: number }
  | { outcome: 'lost-race'; relayed: number };

/**
 * What a planning run read, for the gauges the timer sets after it (functions/plan.ts
 * refreshSourceGauges): they reuse these instead of reading the rows again. `cursor` is as the run
 * left it (its scheduledUntil after planning); `healthRead` says whether the health row was read
 * (`health` undefined then means there is none).
 */
export interface PlanReads {
  cursor?: Pick<CursorRow, 'startMs' | 'scheduledUntil'>;
  healthRead?: boolean;
  health?: HealthRow;
}

export async function planSource(deps: PlannerDeps, source: SourceConfig, reads: PlanReads = {}): Promise<PlanOutcome> {
  const { ledger, clock, log } = deps;
  if (!source.enabled) {
    // Issue 15: disabling a source is a real transition (a health event and row), not only a status view.
    const known = deps.prefetch?.takeHealth(source.id);
    reads.health = known ? known.row : await ledger.getHealth(source.id);
    reads.healthRead = true;
    if (reads.health?.state !== 'Stopping') {
      await setSourceState(deps, source.id, 'Stopping', { reason: 'disabled in the configuration ("enabled": false): no new slices are planned', known: { row: reads.health } });
    }
    return { outcome: 'disabled', relayed: 0 };
  }
  const now = clock.now();

  // The run's query found the cursor, or found none (a new source: created below without a read).
  const prefetched = deps.prefetch?.takeCursor(source.id);
  let cursor = prefetched ? prefetched.row : await ledger.getCursor(source.id);
  // A cursor this run created, and the health row it wrote then: the first run of a new source
  // reads neither again, nor the slices of a cursor that has none (issue 19: the first planning
  // step of 1000 new sources).
  let created: { health?: HealthRow } | undefined;
  if (!cursor) {
    const asked = resolveTimeSpec(source.start, now);
    const clamped = clampToHistory(asked, now);
    if (clamped.warning) log.log('warn', `source ${source.id}: ${clamped.warning}`, { source: source.id });
    const startMs = floorTo(clamped.ms + SECOND - 1, SECOND);
    cursor = await ledger.createCursor(source.id, startMs, 0);
    if (cursor) {
      const known = deps.prefetch?.takeHealth(source.id);
      const health = await writeSourceState(deps, source.id, 'Initialized', { configHash: deps.configHashOf(source), reason: `collection starts at ${new Date(startMs).toISOString()}`, ...(known ? { known } : {}) });
      created = health.row ? { health: health.row } : {};
    } else {
      cursor = await ledger.getCursor(source.id);
      if (!cursor) return { outcome: 'lost-race', relayed: 0 };
    }
  }
  reads.cursor = cursor;

  // A run with no live window due (a quiet tenant's live slice spans two poll intervals) decides so
  // on the cursor alone, with the density its last planning run stored, and reads nothing more:
  // the recovery pass, the fold of what finished since, the coverage check of the new slices and
  // due re-reads all come with the next run that plans, a poll interval later (issue 19: the
  // planner's storage work follows its planning, not its timer). An outbox left by an interrupted
  // planner is relayed first (below), so this only skips a run with nothing in flight.
  const stored = cursor.pending.length ? undefined : decodeCheckpoint(cursor.checkpoint);
  if (stored && !liveDueAt(source, cursor, now, checkpointDensity(stored))) {
    // The gauges use the health row the run's query read (none is read for them then).
    const known = deps.prefetch?.takeHealth(source.id);
    if (known) {
      reads.health = known.row;
      reads.healthRead = true;
    }
    return { outcome: 'not-due', relayed: 0 };
  }
  const first: CursorRow = cursor;

  // Everything past here runs in the caller's span when it gives one (functions/plan.ts): a run
  // that decided "not due" on the cursor alone records no span (issue 19, telemetry by design).
  return deps.inSpan ? deps.inSpan(() => planDue(deps, source, first, now, reads, created)) : planDue(deps, source, first, now, reads, created);
}

/** A source's planning once the cursor did not rule it out (planSource): recovery, outbox relay, live slices, re-reads. */
async function planDue(deps: PlannerDeps, source: SourceConfig, first: CursorRow, now: number, reads: PlanReads, created?: { health?: HealthRow }): Promise<PlanOutcome> {
  const { ledger, log } = deps;
  let cursor = first;

  // Resume after a configuration change, replay parked slices after recovery, find lost jobs.
  // A source stopped by a ThirdPartyConfig error plans nothing until its configuration changes.
  // Preflight diagnostics of new or changed sources are not run here: they are their own budgeted
  // step of the timer run (preflight-step.ts), so planning never waits for them (issue 19).
  const known = created ? undefined : deps.prefetch?.takeHealth(source.id);
  const health = created ? created.health : known ? known.row : await ledger.getHealth(source.id);
  reads.health = health;
  reads.healthRead = true;
  const recovery = await recoverSource(deps, source, { health, cursor });
  if (recovery.stopped) return { outcome: 'stopped', relayed: 0 };
  // No backfill run left: later runs skip the run index until one is admitted. The hint is cleared
  // with this run's next cursor swap (the relay's, the planning's, or one of its own when the run
  // swaps nothing else); a run admitted since this cursor was read changed its ETag, so that swap
  // fails and the hint stays.
  let clearHint = !!cursor.runsHint && recovery.runsActive === 0;
  const hintPatch = () => (clearHint ? { runsHint: 0 } : {});

  let relayed = 0;
  if (cursor.pending.length) {
    if (now - cursor.lastPlannedAt < (deps.outboxStaleMs ?? OUTBOX_STALE_MS)) {
      // Another planner is mid-flight with this outbox; leave it alone.
      return { outcome: 'lost-race', relayed: 0 };
    }
    await materialise(deps, source, cursor.pending, now);
    const etag = await ledger.swapCursor(cursor, { pending: [], ...hintPatch() });
    if (etag === undefined) return { outcome: 'lost-race', relayed: 0 };
    relayed = cursor.pending.length;
    log.log('warn', `source ${source.id}: relayed ${relayed} slice(s) left in the outbox by an interrupted planner`, { source: source.id });
    cursor = { ...cursor, pending: [], ...(clearHint ? { runsHint: 0 } : {}), etag };
    clearHint = false;
  }

  // Live windows are planned once per poll interval; a cursor that is behind by a whole slice or
  // more (catching up, or after an outage) plans at once. A quiet tenant's live slice spans two
  // intervals (LIVE_SLICE_TARGET). Timer runs are not exactly an interval apart (a run starts
  // late or early, planning many sources takes seconds), so a run plans when the live window is
  // nearer its length than the next run would be (at least its length minus half an interval),
  // and a run less than three quarters of an interval after the last planning one (a second run
  // in the same interval) waits.
  // Density and hole filling read only what changed since the last run (checkpoint.ts).
  const seen = await readSinceCheckpoint(deps, source, cursor, health?.completedUntil ?? 0, { fresh: created !== undefined });
  const density = seen.density;
  const liveDue = liveDueAt(source, cursor, now, density);

  // A cursor that fell out of the API's history (a source disabled for months) jumps forward; the
  // skipped range is recorded as a slice that is done with reason expired-history, so status lists
  // it as a gap instead of hiding it, and the watermark can move on.
  // The gap goes through the outbox like any slice: only the planner whose cursor swap wins
  // records it (invariant 10), and its id comes from the cursor it replaces, so a relay writes the
  // same row again.
  let liveSlices: { startMs: number; endMs: number }[] = [];
  let gap: PendingSlice | undefined;
  if (liveDue) {
    const history = clampToHistory(cursor.scheduledUntil, now);
    let from = cursor.scheduledUntil;
    if (history.warning) {
      from = floorTo(history.ms + SECOND - 1, SECOND);
      gap = { id: liveSliceId(cursor.scheduledUntil, from), startMs: cursor.scheduledUntil, endMs: from, gap: true };
      log.log('warn', `source ${source.id}: the cursor ${history.warning}`, { source: source.id });
    }
    const target = floorTo(now - source.collectionDelayMs, SECOND);
    const end = Math.min(target, from + MAX_WINDOW_MS);
    // A cold start or catch-up is cut so it costs at most ceil(rows / page) / 0.9 requests whatever
    // its density (cutLiveRange: one slice per window unless the density proves the pages full).
    // At most MAX_LIVE_SLICES_PER_RUN per run keeps the outbox bounded (invariant 9); a catch-up
    // of more plans the rest on the next run (a minute later: far sooner than the budget fetches them).
    if (end > from) liveSlices = cutLiveRange({ startMs: from, endMs: end }, { density, pageSize: source.pageSize, maxSliceMs: source.sliceMs }).slice(0, MAX_LIVE_SLICES_PER_RUN);
  }

  // Settle re-reads of buckets whose live collection is done and whose age has come.
  let rescans: PendingSlice[] = [];
  let rescanUntil = cursor.rescanUntil;
  if (source.settleRereadsMs.length) {
    const completedUntil = health?.completedUntil || cursor.startMs;
    // Each bucket's live read is known from the checkpoint's fold (no second read of its slices).
    const known = (bucket: number) => liveReadDoneAt(seen.checkpoint, bucket, source.settleBucketMs);
    const plan = await planRescans(ledger, source, cursor, completedUntil, now, MAX_OUTBOX_SLICES - liveSlices.length - (gap ? 1 : 0), known);
    rescans = plan.pending;
    rescanUntil = plan.rescanUntil;
    seen.checkpoint = pruneLiveReads(seen.checkpoint, Math.min(...rescanUntil));
  }

  if (!liveSlices.length && !rescans.length && !gap) {
    if (clearHint && (await ledger.swapCursor(cursor, { runsHint: 0 })) === undefined) return { outcome: 'lost-race', relayed };
    return { outcome: liveDue ? 'nothing-to-plan' : 'not-due', relayed };
  }
  const scheduledUntil = liveSlices.length ? liveSlices[liveSlices.length - 1]!.endMs : gap ? gap.endMs : cursor.scheduledUntil;
  const pending: PendingSlice[] = [
    ...(gap ? [gap] : []),
    ...liveSlices.map((s) => ({ id: liveSliceId(s.startMs, s.endMs), startMs: s.startMs, endMs: s.endMs })),
    ...rescans,
  ];
  const etag = await ledger.swapCursor(cursor, {
    scheduledUntil, pending, rescanUntil, checkpoint: encodeCheckpoint(seen.checkpoint),
    ...(liveSlices.length ? { lastPlannedAt: now } : {}),
    ...hintPatch(),
  });
  if (etag === undefined) {
    log.log('info', `source ${source.id}: another planner advanced the cursor first; doing nothing`, { source: source.id });
    return { outcome: 'lost-race', relayed };
  }
  reads.cursor = { startMs: cursor.startMs, scheduledUntil };
  await materialise(deps, source, pending, now, density);
  await ledger.swapCursor({ ...cursor, etag }, { pending: [] });
  log.log('info', `source ${source.id}: planned ${liveSlices.length} live slice(s) up to ${new Date(scheduledUntil).toISOString()}${rescans.length ? ` and ${rescans.length} re-read(s)` : ''}`, {
    source: source.id, slices: liveSlices.length, rescans: rescans.length,
  });
  return { outcome: 'planned', slices: pending.length, scheduledUntil, relayed };
}

/**
 * Whether a live window is due: always for a new cursor or one behind by a whole slice or more;
 * otherwise not within three quarters of an interval of the last planning run, and only once the
 * window is nearer the live slice length (from the density) than the next run would be.
 */
function liveDueAt(source: SourceConfig, cursor: CursorRow, now: number, density: number | undefined): boolean {
  const behindMs = now - source.collectionDelayMs - cursor.scheduledUntil;
  if (cursor.lastPlannedAt <= 0 || behindMs >= source.sliceMs) return true;
  const sliceMs = liveSliceForLag({ density, pollIntervalMs: source.pollIntervalMs, pageSize: source.pageSize, ...LIVE_SLICE_TARGET(source) });
  if (now - cursor.lastPlannedAt < (3 * source.pollIntervalMs) / 4) return false;
  return behindMs + source.pollIntervalMs / 2 >= sliceMs;
}

/** The range the API no longer serves: a done slice with reason expired-history (a gap in status). */
async function recordHistoryGap(deps: PlannerDeps, source: SourceConfig, gap: PendingSlice, now: number): Promise<void> {
  const error = new CollectorError('ThirdPartyGeneric', `rows from ${new Date(gap.startMs).toISOString()} to ${new Date(gap.endMs).toISOString()} are older than the API's 90 days of history and cannot be collected`, {
    code: 'ExpiredHistory', retryable: false,
  });
  await deps.ledger.createSlice(newGapSlice({ sourceId: source.id, id: gap.id, kind: 'live', runId: '', startMs: gap.startMs, endMs: gap.endMs }, JSON.stringify(error.toHealth()), now));
}

/**
 * Writes the slice rows (idempotent) and enqueues their first page jobs: those of small live
 * slices through the run's batcher when there is one (`density` known), the others one by one.
 */
async function materialise(deps: PlannerDeps, source: SourceConfig, pending: PendingSlice[], now: number, density?: number): Promise<void> {
  // A row this run created is exactly newSlice(fields, now): its first job carries the row's ETag
  // and `now`, and the worker claims it without reading it first (one read less per slice). A row
  // that existed (a relay after an interrupted planner) gets a plain job.
  const created = new Map<string, PageJob['created']>();
  for (const p of pending) {
    if (p.gap) {
      await recordHistoryGap(deps, source, p, now);
      continue;
    }
    const fields = { sourceId: source.id, id: p.id, kind: p.kind ?? 'live', runId: '', startMs: p.startMs, endMs: p.endMs } as const;
    if (p.skip) {
      await deps.ledger.createSlice(newSkippedSlice(fields, now));
      continue;
    }
    const etag = await deps.ledger.createSliceTagged(newSlice(fields, now));
    // The worker rebuilds the row from the id: only when the id names these very fields.
    const named = plannedSliceFields(source.id, p.id);
    const rebuilt = !!named && (Object.keys(named) as (keyof typeof named)[]).every((k) => named[k] === fields[k]);
    if (etag && etag.length <= MAX_CREATED_ETAG && rebuilt) created.set(p.id, { etag, at: now });
  }
  const jobs = pending.filter((p) => !p.skip && !p.gap);
  const batched = deps.batcher ? jobs.filter((p) => isBatchable(source, p, density)) : [];
  await Promise.all([
    ...jobs.filter((p) => !batched.includes(p)).map((p) => deps.queue.send(pageJob(source.id, p.id, 0, created.get(p.id)))),
    deps.batcher?.sendAll(batched.map((p) => pageJob(source.id, p.id, 0, created.get(p.id)))),
  ]);
  if (pending.some((p) => p.skip)) await advanceSettled(deps.ledger, source, deps.seen);
}


/**
 * Runs `planOne` for every source, `limit` at a time, so a preflight or a slow table call of one
 * tenant does not delay the others. `planOne` handles its own source's failure.
 */
export async function forEachSource<T>(sources: readonly T[], planOne: (source: T) => Promise<void>, limit: number): Promise<void> {
  const queue = [...sources];
  const next = async (): Promise<void> => {
    for (let source = queue.shift(); source !== undefined; source = queue.shift()) await planOne(source);
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, next));
}
