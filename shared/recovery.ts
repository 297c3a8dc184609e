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
 */
import type { SourceConfig } from './components';
import type { Ledger, SliceRow } from './state/ledger';
import { liveSliceId, liveSlicePrefixAt, newSlice } from './state/ledger';
import { pageJob, type JobQueue } from './queue/jobs';
import { replay, touch } from './state/slice-machine';
import type { Clock } from './time/clock';
import type { Logger } from './log';
import type { Telemetry } from './telemetry';
import { setSourceState } from './health';
import { resumeRuns } from './backfill-runs';

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
export async function replayParked(deps: RecoveryDeps, source: SourceConfig, sliceIds?: string[]): Promise<{ replayed: string[]; resumed: boolean; notParked: string[] }> {
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
  return { replayed, resumed, notParked };
}

/**
 * Run by the planner for each source: resume after a configuration change, replay parked slices
 * after recovery, and re-enqueue slices whose job went missing. Returns whether the source is
 * stopped (ThirdPartyConfig error with an unchanged configuration).
 */
export async function recoverSource(deps: RecoveryDeps, source: SourceConfig): Promise<{ stopped: boolean; replayed: number; requeued: number }> {
  const now = deps.clock.now();
  const hash = deps.configHashOf(source);
  let health = await deps.ledger.getHealth(source.id);
  if (health?.state === 'Error') {
    if (health.configHash === hash) return { stopped: true, replayed: 0, requeued: 0 };
    await setSourceState(deps, source.id, 'Started', { configHash: hash, reason: 'the configuration changed; collection resumes', onlyFrom: ['Error'] });
    health = await deps.ledger.getHealth(source.id);
  }
  let replayed = 0, requeued = 0, parked = 0;
  for await (const s of deps.ledger.listSlices(source.id, { state: 'parked' })) {
    const recovered = s.parkReason === 'config' || (health?.lastSuccessAt ?? 0) > s.parkedAt;
    const auto = AUTO_REPLAYS_ALLOWED(s) && recovered;
    if (auto && (await replaySlice(deps, s, { automatic: true }))) replayed++;
    else parked++;
  }
  for (const state of ['pending', 'fetching'] as const) {
    for await (const s of deps.ledger.listSlices(source.id, { state })) {
      if (now - s.updatedAt < STALE_SLICE_MS || (s.claimOwner && s.claimUntil > now)) continue;
      const touched = await deps.ledger.swapSlice(touch(s, now));
      if (!touched) continue;
      await deps.queue.send(pageJob(s.sourceId, s.id, s.page));
      deps.log.log('warn', `slice ${s.id} had no job for ${Math.round((now - s.updatedAt) / 60_000)} min; re-enqueued page ${s.page}`, { source: s.sourceId, slice: s.id });
      requeued++;
    }
  }
  deps.telemetry.gauge('slicesParked', parked, { source: source.id });
  await resumeRuns(deps, source);
  const holes = await fillHoles(deps, source, health?.completedUntil ?? 0);
  await pruneLedger(deps, source, health);
  return { stopped: false, replayed, requeued: requeued + holes };
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
  lastPruned.set(key, now);
  let deleted = 0;
  for await (const s of deps.ledger.listSlices(source.id, { state: 'done' })) {
    if (deleted >= PRUNE_BATCH) break;
    const behind = s.kind === 'live' ? s.endMs <= health.completedUntil : s.kind === 'rescan' ? s.endMs <= health.settledUntil : false;
    if (!behind || s.parkReason === 'expired-history' || now - s.updatedAt < LEDGER_RETENTION_MS) continue;
    await deps.ledger.slices.deleteEntity(source.id, s.id).catch(() => undefined);
    deleted++;
  }
  if (deleted) deps.log.log('info', `source ${source.id}: pruned ${deleted} finished slice(s) older than ${LEDGER_RETENTION_MS / 86_400_000} days from the ledger`, { source: source.id });
  return deleted;
}

/**
 * Finds ranges between the completed watermark and the planned cursor that no live slice covers
 * (a lost ledger write, a restore from backup, a manual edit) and collects them as new live slices.
 * Only runs when the cursor's outbox is empty, so every slice the cursor planned already exists.
 */
export async function fillHoles(deps: RecoveryDeps, source: SourceConfig, completedUntil: number): Promise<number> {
  const cursor = await deps.ledger.getCursor(source.id);
  if (!cursor || cursor.pending.length) return 0;
  let expected = completedUntil || cursor.startMs;
  const holes: { startMs: number; endMs: number }[] = [];
  for await (const s of deps.ledger.listSlices(source.id, { fromRowKey: liveSlicePrefixAt(Math.max(0, expected - 24 * 3600_000)), toRowKey: 'M' })) {
    if (s.kind !== 'live' || s.endMs <= expected) continue;
    if (s.startMs >= cursor.scheduledUntil) break;
    if (s.startMs > expected) holes.push({ startMs: expected, endMs: s.startMs });
    expected = Math.max(expected, s.endMs);
  }
  if (expected < cursor.scheduledUntil) holes.push({ startMs: expected, endMs: cursor.scheduledUntil });
  const now = deps.clock.now();
  for (const h of holes) {
    const id = liveSliceId(h.startMs, h.endMs);
    if (await deps.ledger.createSlice(newSlice({ sourceId: source.id, id, kind: 'live', runId: '', startMs: h.startMs, endMs: h.endMs }, now))) {
      await deps.queue.send(pageJob(source.id, id, 0));
      deps.log.log('warn', `source ${source.id}: no slice covered ${new Date(h.startMs).toISOString()} to ${new Date(h.endMs).toISOString()}; collecting it now`, { source: source.id, slice: id });
    }
  }
  return holes.length;
}

function AUTO_REPLAYS_ALLOWED(s: SliceRow): boolean {
  return (AUTO_REPLAY_REASONS.has(s.parkReason) || s.parkReason.startsWith('destination:')) && (s.parkReason === 'config' || s.autoReplays < MAX_AUTO_REPLAYS);
}
