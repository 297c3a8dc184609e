/**
 * Getting parked work moving again.
 *
 * - `POST /api/sources/{source}/replay` replays parked slices (all, or the ids given) and resumes a
 *   source stopped by a ThirdPartyConfig error (after a fix made outside the configuration, such
 *   as creating the service principal or granting admin consent).
 * - The planner replays on its own: slices parked because the source was stopped, once its
 *   configuration changed; slices parked past the retry horizon or for a failing destination, once
 *   the source has collected a page since they were parked (it recovered), at most
 *   MAX_AUTO_REPLAYS times each. Slices parked for a permanent error, a poison message or a bad
 *   queue message wait for a manual replay.
 * - It also re-enqueues slices whose job went missing (pending or fetching, untouched for
 *   STALE_SLICE_MS, not claimed), so nothing waits unseen.
 * - Holes between the watermark and the cursor are found by the planner's checkpoint
 *   (shared/planning/checkpoint.ts), from what changed since its last run.
 * - Detail records (detail enrichment) are swept, replayed after recovery and pruned the same way
 *   (shared/details/sweep.ts).
 * - Every read here is a RowKey range (issue 19): no query filters on `state`, whose cost grows
 *   with the whole partition (8 days of slices) however few rows it returns.
 */
import type { SourceConfig } from './components';
import type { CursorRow, HealthRow, Ledger, SliceRow } from './state/ledger';
import { liveSlicePrefixAt, rescanPrefixAt } from './state/ledger';
import { runStore, type ActiveRuns } from './state/runs';
import { staggerMs } from './time/stagger';
import { deliveryJob, pageJob, type JobQueue } from './queue/jobs';
import type { BacklogStore } from './delivery/progress';
import { gauges as backlogGauges } from './delivery/drain';
import { admitReplay } from './delivery/replay';
import { replay, touch } from './state/slice-machine';
import type { Clock } from './time/clock';
import type { Logger } from './log';
import type { Telemetry } from './telemetry';
import { setSourceState } from './health';
import { resumeRuns } from './backfill-runs';
import type { DetailStore } from './details/store';
import { replayParkedDetails, sweepDetailsIfDue } from './details/sweep';

export const MAX_AUTO_REPLAYS = 3;
export const STALE_SLICE_MS = 30 * 60_000;
// 'poison': a job the host gave up on (a crash loop, a storage outage longer than five tries) is
// replayed after recovery too, at most MAX_AUTO_REPLAYS times, so an outage needs no operator.
const AUTO_REPLAY_REASONS = new Set(['horizon', 'config', 'poison']);

export interface RecoveryDeps {
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  configHashOf(source: SourceConfig): string;
  /** When present, a resumed source gets a fresh credential (its cached token may predate the fix). */
  clientsFor?(source: SourceConfig): { credential: { renew(): void } };
  /** When present, the sweep also looks after the destinations' backlogs (shared/delivery). */
  backlog?: BacklogStore;
  /** The detail records (detail enrichment): swept, replayed and pruned here too. */
  details?: DetailStore;
}

export async function replaySlice(deps: RecoveryDeps, slice: SliceRow, opts: { automatic: boolean }): Promise<boolean> {
  const now = deps.clock.now();
  const updated = await deps.ledger.swapSlice(replay(slice, opts, now));
  if (!updated) return false;
  await deps.queue.send(pageJob(slice.sourceId, slice.id, slice.page));
  deps.log.log('info', `slice ${slice.id} replayed${opts.automatic ? ' automatically' : ''} from page ${slice.page}`, { source: slice.sourceId, slice: slice.id });
  return true;
}

/** Manual replay (the replay route). */
export async function replayParked(
  deps: RecoveryDeps, source: SourceConfig, sliceIds?: string[], detailRecords?: string[],
): Promise<{ replayed: string[]; resumed: boolean; notParked: string[]; detailsReplayed: number; detailsNotParked: string[] }> {
  const health = await deps.ledger.getHealth(source.id);
  let resumed = false;
  if (health?.state === 'Error') {
    deps.clientsFor?.(source).credential.renew();
    // Only from Error, decided inside the compare-and-swap: a newer state written meanwhile stays.
    resumed = await setSourceState(deps, source.id, 'Started', { reason: 'resumed by a replay request', onlyFrom: ['Error'] });
  }
  const replayed: string[] = [];
  const wanted = sliceIds ? new Set(sliceIds) : undefined;
  for await (const s of deps.ledger.listSlices(source.id, { state: 'parked' })) {
    if (wanted && !wanted.has(s.id)) continue;
    if (await replaySlice(deps, s, { automatic: false })) replayed.push(s.id);
  }
  const notParked = wanted ? [...wanted].filter((id) => !replayed.includes(id)) : [];
  // Parked detail records too: all of them with no ids given, else the records named.
  let detailsReplayed = 0;
  let detailsNotParked: string[] = [];
  if (deps.details && (!sliceIds || detailRecords)) {
    const d = await replayParkedDetails({ ...deps, details: deps.details }, source, detailRecords);
    detailsReplayed = d.replayed.length;
    detailsNotParked = d.notParked;
  }
  return { replayed, resumed, notParked, detailsReplayed, detailsNotParked };
}

/** The sweep of a source's unfinished slices runs at least this often (per process), see `sweepDue`. */
export const SWEEP_EVERY_MS = 15 * 60_000;
const sweeps = new Map<string, { at: number; parked: number; hash: string; rescanFrom: number[] }>();

/**
 * Whether the planner sweeps the source's unfinished slices in this run: every SWEEP_EVERY_MS
 * (staggered over sources), and at once after a configuration change, after an error was recorded
 * (a slice may have been parked), or after a success while parked slices wait for recovery.
 */
function sweepDue(key: string, now: number, hash: string, health: { lastErrorAt: number; lastSuccessAt: number } | undefined): boolean {
  const last = sweeps.get(key);
  if (!last) return true;
  return now - last.at >= SWEEP_EVERY_MS || last.hash !== hash || (health?.lastErrorAt ?? 0) >= last.at
    || (last.parked > 0 && (health?.lastSuccessAt ?? 0) >= last.at);
}


/**
 * The slices of a source that can be unfinished, by key range only (no scan by `state`): live
 * slices from the completed watermark to the cursor (a parked or pending live slice holds the
 * watermark back), re-reads of each level from the settled watermark's bucket to the level's
 * planning point (a parked re-read holds settledUntil back), and the slices of active backfill runs.
 */
export async function* unfinishedSlices(
  ledger: Ledger, source: SourceConfig, cursor: CursorRow, health: HealthRow | undefined, rescanFrom: number[] = [],
  /** The run index, when the caller read it already (recoverSource reads it once a sweep). */
  runIndex?: ActiveRuns,
): AsyncGenerator<SliceRow> {
  const ranges: [string, string][] = [];
  /** Levels whose first unfinished re-read this sweep found (`rescanFrom` is updated for the next sweep). */
  const firstFound = new Set<number>();
  const watermark = Math.max(health?.completedUntil ?? 0, cursor.startMs);
  if (cursor.scheduledUntil > watermark) ranges.push([liveSlicePrefixAt(watermark), liveSlicePrefixAt(cursor.scheduledUntil)]);
  const B = source.settleBucketMs > 0 ? source.settleBucketMs : 3600_000;
  const settledFrom = Math.floor(Math.max(health?.settledUntil ?? 0, cursor.startMs) / B) * B;
  // Each level from where the last sweep found its first unfinished re-read (levels are planned in
  // order, so a done prefix stays done): the read does not grow with the 25 hours settle spans.
  cursor.rescanUntil.forEach((until, k) => {
    const from = Math.max(settledFrom, rescanFrom[k] ?? 0);
    if (until > from) ranges.push([rescanPrefixAt(k, from), rescanPrefixAt(k, until)]);
  });
  for (const run of (runIndex ?? await runStore(ledger).getActive(source.id)).runs) ranges.push([`B-${run.runId}-`, `B-${run.runId}.`]);
  for (const [fromRowKey, toRowKey] of ranges) {
    for await (const s of ledger.listSlices(source.id, { fromRowKey, toRowKey })) {
      const level = s.kind === 'rescan' ? Number(/^R(\d+)-/.exec(s.id)?.[1] ?? -1) : -1;
      if (level >= 0 && s.state !== 'done' && !firstFound.has(level)) {
        firstFound.add(level);
        rescanFrom[level] = s.startMs;
      }
      if (s.state !== 'done') yield s;
    }
  }
  // A level with nothing unfinished: the next sweep starts at its planning point.
  cursor.rescanUntil.forEach((until, k) => { if (!firstFound.has(k)) rescanFrom[k] = until; });
}

/**
 * Run by the planner for each source: resume after a configuration change, replay parked slices
 * after recovery, and re-enqueue slices whose job went missing. Returns whether the source is
 * stopped (ThirdPartyConfig error with an unchanged configuration). The planner passes the health
 * row and cursor it read; the sweep of unfinished slices runs when `sweepDue` says so.
 */
export async function recoverSource(
  deps: RecoveryDeps, source: SourceConfig, known: { health?: HealthRow | undefined; cursor?: CursorRow } = {},
): Promise<{ stopped: boolean; replayed: number; requeued: number; swept: boolean; runsActive?: number }> {
  const now = deps.clock.now();
  const hash = deps.configHashOf(source);
  let health = 'health' in known ? known.health : await deps.ledger.getHealth(source.id);
  if (health?.state === 'Error') {
    if (health.configHash === hash) return { stopped: true, replayed: 0, requeued: 0, swept: false };
    await setSourceState(deps, source.id, 'Started', { configHash: hash, reason: 'the configuration changed; collection resumes', onlyFrom: ['Error'] });
    health = await deps.ledger.getHealth(source.id);
  }
  let replayed = 0, requeued = 0, parked = 0;
  const key = `${deps.ledger.prefix}/${source.id}`;
  const cursor = known.cursor ?? await deps.ledger.getCursor(source.id);
  const swept = !!cursor && sweepDue(key, now, hash, health);
  // One read of the run index serves the sweep and the resume below (issue 19: no repeated reads).
  let runIndex: ActiveRuns | undefined;
  if (cursor && swept) {
    const rescanFrom = [...(sweeps.get(key)?.rescanFrom ?? [])];
    runIndex = await runStore(deps.ledger).getActive(source.id);
    for await (const s of unfinishedSlices(deps.ledger, source, cursor, health, rescanFrom, runIndex)) {
      if (s.state === 'parked') {
        const recovered = s.parkReason === 'config' || (health?.lastSuccessAt ?? 0) > s.parkedAt;
        const auto = AUTO_REPLAYS_ALLOWED(s) && recovered;
        if (auto && (await replaySlice(deps, s, { automatic: true }))) replayed++;
        else parked++;
        continue;
      }
      if (now - s.updatedAt < STALE_SLICE_MS || (s.claimOwner && s.claimUntil > now)) continue;
      const touched = await deps.ledger.swapSlice(touch(s, now));
      if (!touched) continue;
      await deps.queue.send(pageJob(s.sourceId, s.id, s.page));
      deps.log.log('warn', `slice ${s.id} had no job for ${Math.round((now - s.updatedAt) / 60_000)} min; re-enqueued page ${s.page}`, { source: s.sourceId, slice: s.id });
      requeued++;
    }
    // The next sweep of this source comes SWEEP_EVERY_MS later, staggered over sources on first sight.
    const first = !sweeps.has(key);
    sweeps.set(key, { at: first ? now - staggerMs(source.id, SWEEP_EVERY_MS) : now, parked, hash, rescanFrom });
    deps.telemetry.gauge('slicesParked', parked, { source: source.id });
    if (deps.backlog) await sweepBacklogs({ ...deps, backlog: deps.backlog }, source);
  }
  // The run index is read while the cursor says a run may be active (CursorRow.runsHint), and with
  // every sweep (a hint lost with a process that died right after admitting a run).
  const runs = !cursor || cursor.runsHint || swept ? await resumeRuns(deps, source, runIndex) : undefined;
  await pruneLedger(deps, source, health);
  if (deps.details) await sweepDetailsIfDue({ ...deps, details: deps.details }, source, health);
  return { stopped: false, replayed, requeued, swept, ...(runs ? { runsActive: runs.active } : {}) };
}

/** A lagging destination whose drain showed no sign of life for this long gets a new drain job. */
export const STALE_DRAIN_MS = 15 * 60_000;
/** A destination replay whose re-collection is not admitted this long after it resumed the destination is finished by the sweep. */
export const REPLAY_GRACE_MS = 5 * 60_000;

/**
 * The destinations' side of the sweep: each destination's backlog gauges, and a new drain job for a
 * lagging destination whose drain went missing (a job lost between a hand-off and its enqueue, or a
 * drain that died and left no continuation). One point read per destination of the source.
 */
export async function sweepBacklogs(deps: RecoveryDeps & { backlog: BacklogStore }, source: SourceConfig): Promise<number> {
  const now = deps.clock.now();
  let restarted = 0;
  for (const destId of source.destinations) {
    const p = await deps.backlog.getProgress(source.id, destId);
    if (!p) continue;
    backlogGauges(deps, p);
    // A replay interrupted before its re-collection was admitted: finish it.
    if (p.replaying.length && now - p.resumedAt > REPLAY_GRACE_MS) await admitReplay({ ...deps, backlog: deps.backlog }, source, p);
    if (p.state !== 'lagging' || (p.claimOwner && p.claimUntil > now)) continue;
    const lastSign = Math.max(p.nextAttemptAt, p.lastDeliveredAt, p.lastErrorAt, p.since, p.claimUntil);
    if (now - lastSign < STALE_DRAIN_MS) continue;
    await deps.queue.send(deliveryJob(source.id, destId));
    deps.log.log('warn', `destination ${destId} lags for source ${source.id} and its drain showed no sign for ${Math.round((now - lastSign) / 60_000)} min; started a new drain`, { source: source.id, destination: destId });
    restarted++;
  }
  return restarted;
}

/** Done live and re-read slices are kept this long after they finished, then deleted. */
export const LEDGER_RETENTION_MS = 8 * 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;
const PRUNE_BATCH = 500;
const lastPruned = new Map<string, number>();

/**
 * Keeps the ledger small: a live slice a minute is 1440 rows a day. Done live slices behind the
 * completed watermark and done re-reads behind settledUntil that finished more than the retention
 * ago are deleted, at most PRUNE_BATCH per source per hour and instance. Parked slices, gaps
 * (expired history) and backfill slices (their run's progress) are kept.
 */
export async function pruneLedger(deps: RecoveryDeps, source: SourceConfig, health: { completedUntil: number; settledUntil: number } | undefined): Promise<number> {
  const now = deps.clock.now();
  // Per ledger (table prefix) and source: two collectors in one process (tests, a local host next
  // to another prefix) prune their own ledgers.
  const key = `${deps.ledger.prefix}/${source.id}`;
  if (!health || now - (lastPruned.get(key) ?? 0) < PRUNE_EVERY_MS) return 0;
  // The first prune in this process is at once; the next ones are staggered over the hour, so the
  // sources of a deployment do not all prune in the same timer run.
  lastPruned.set(key, lastPruned.has(key) ? now : now - staggerMs(source.id, PRUNE_EVERY_MS));
  let deleted = 0;
  // Key ranges only (no scan by state): live slices behind the watermark, re-reads behind
  // settledUntil, both ending before the retention; what the range returns is what gets deleted.
  const before = now - LEDGER_RETENTION_MS;
  const ranges: [string, string][] = [[liveSlicePrefixAt(0), liveSlicePrefixAt(Math.min(health.completedUntil, before))]];
  for (let k = 0; k < Math.max(source.settleRereadsMs?.length ?? 0, 3); k++) ranges.push([rescanPrefixAt(k, 0), rescanPrefixAt(k, Math.min(health.settledUntil, before))]);
  for (const [fromRowKey, toRowKey] of ranges) {
    if (toRowKey <= fromRowKey) continue;
    for await (const s of deps.ledger.listSlices(source.id, { fromRowKey, toRowKey })) {
      if (deleted >= PRUNE_BATCH) break;
      const behind = s.kind === 'live' ? s.endMs <= health.completedUntil : s.kind === 'rescan' ? s.endMs <= health.settledUntil : false;
      if (s.state !== 'done' || !behind || s.parkReason === 'expired-history' || now - s.updatedAt < LEDGER_RETENTION_MS) continue;
      await deps.ledger.slices.deleteEntity(source.id, s.id).catch(() => undefined);
      deleted++;
    }
  }
  if (deleted) deps.log.log('info', `source ${source.id}: pruned ${deleted} finished slice(s) older than ${LEDGER_RETENTION_MS / 86_400_000} days from the ledger`, { source: source.id });
  return deleted;
}

function AUTO_REPLAYS_ALLOWED(s: SliceRow): boolean {
  return (AUTO_REPLAY_REASONS.has(s.parkReason) || s.parkReason.startsWith('destination:')) && (s.parkReason === 'config' || s.autoReplays < MAX_AUTO_REPLAYS);
}
