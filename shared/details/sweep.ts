/**
 * The planner's side of detail enrichment, per source (called from shared/recovery.ts):
 *
 * - the sweep (every DETAIL_SWEEP_EVERY_MS): reads the records from the sweep mark (`pendingFrom`,
 *   the oldest unfinished record) onwards, by key range only, re-sends the job of an unfinished
 *   record nobody has touched for STALE_DETAIL_MS (its job was lost), moves the mark up to the
 *   first unfinished record, and reports the backlog (`mtc.details.backlog`);
 * - replay: a parked record back to pending with a new job (manual: the replay route; automatic:
 *   after the source recovered, at most MAX_AUTO_REPLAYS times);
 * - pruning: records older than the source's detail retention (plus a day) and day counters older
 *   than 8 days are deleted; no detail can be asked for such a row any more.
 */
import type { SourceConfig } from '../components';
import type { HealthRow } from '../state/ledger';
import { detailJob, type JobQueue } from '../queue/jobs';
import type { Clock } from '../time/clock';
import { staggerMs } from '../time/stagger';
import type { Logger } from '../log';
import type { Telemetry } from '../telemetry';
import { replay, touch } from './machine';
import { utcDay, type DetailDay, type DetailRecord, type DetailStore, type DetailSummary } from './store';

export const DETAIL_SWEEP_EVERY_MS = 5 * 60_000;
/** An unfinished record untouched this long (and not due later) has lost its job. */
export const STALE_DETAIL_MS = 30 * 60_000;
/** Records one sweep reads at most (a backlog beyond it is reported as at least this). */
export const MAX_SWEEP_RECORDS = 20_000;
const MAX_AUTO_REPLAYS = 3;
const AUTO_REPLAY_REASONS = new Set(['horizon', 'config', 'poison']);
const PRUNE_EVERY_MS = 3600_000;
const PRUNE_BATCH = 2000;
const DAY_COUNTERS_KEPT_DAYS = 8;
const DAY_MS = 86_400_000;

export interface DetailSweepDeps {
  details: DetailStore;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  ledger: { prefix: string };
}

export interface DetailBacklog {
  /** Unfinished records (pending or being fetched) from the sweep mark on. */
  pending: number;
  /** Seconds the longest-waiting of them has waited since its row was collected. */
  oldestPendingSeconds: number;
  /** The read stopped at MAX_SWEEP_RECORDS: `pending` is a lower bound. */
  truncated: boolean;
}

const lastSweep = new Map<string, number>();
const lastPrune = new Map<string, number>();

/** Sweeps (and prunes, and replays after recovery) when due; returns the backlog when it swept. */
export async function sweepDetailsIfDue(deps: DetailSweepDeps, source: SourceConfig, health: HealthRow | undefined): Promise<DetailBacklog | undefined> {
  if (!source.details?.enabled) return undefined;
  const key = `${deps.ledger.prefix}/${source.id}`;
  const now = deps.clock.now();
  if (now - (lastSweep.get(key) ?? Number.NEGATIVE_INFINITY) < DETAIL_SWEEP_EVERY_MS) return undefined;
  // The first sweep in this process is at once; the next ones are staggered over the interval.
  lastSweep.set(key, lastSweep.has(key) ? now : now - staggerMs(source.id, DETAIL_SWEEP_EVERY_MS));
  const backlog = await sweepDetails(deps, source);
  const parked = await autoReplay(deps, source, health);
  deps.telemetry.gauge('detailBacklog', backlog.pending, { source: source.id });
  deps.telemetry.gauge('detailsParked', parked, { source: source.id });
  if (now - (lastPrune.get(key) ?? Number.NEGATIVE_INFINITY) >= PRUNE_EVERY_MS) {
    lastPrune.set(key, now);
    await pruneDetails(deps, source);
  }
  return backlog;
}

/** One sweep of a source's unfinished records (see the header). */
export async function sweepDetails(deps: DetailSweepDeps, source: SourceConfig, opts: { resend?: boolean } = {}): Promise<DetailBacklog> {
  const store = deps.details;
  const now = deps.clock.now();
  const out: DetailBacklog = { pending: 0, oldestPendingSeconds: 0, truncated: false };
  const mark = await store.getSweepMark(source.id);
  if (!mark) return out;
  let firstUnfinished: number | undefined;
  let lastSeen: number | undefined;
  let oldestCollected = Number.POSITIVE_INFINITY;
  let read = 0;
  for await (const s of store.listRange(source.id, mark.pendingFrom, now + DAY_MS, MAX_SWEEP_RECORDS)) {
    read++;
    lastSeen = s.receivedMs;
    if (s.state !== 'pending' && s.state !== 'fetching') continue;
    out.pending++;
    firstUnfinished ??= s.receivedMs;
    oldestCollected = Math.min(oldestCollected, s.collectedAt || s.createdAt);
    if (opts.resend !== false && isStale(s, now)) await resend(deps, source, s);
  }
  out.truncated = read >= MAX_SWEEP_RECORDS;
  if (out.pending) out.oldestPendingSeconds = Math.max(0, Math.round((now - oldestCollected) / 1000));
  // Up to the first unfinished record; with none, past what was read (a cut-off read: up to its last instant).
  const to = firstUnfinished ?? (lastSeen === undefined ? mark.pendingFrom : out.truncated ? lastSeen : lastSeen + 1);
  if (opts.resend !== false) await store.raisePendingFrom(source.id, mark, to);
  return out;
}

function isStale(s: DetailSummary, now: number): boolean {
  if (s.claimOwner && s.claimUntil > now) return false;
  return now - Math.max(s.updatedAt, s.nextAt) >= STALE_DETAIL_MS;
}

/** A lost job: the job first, then the record's note that it was sent (a crash between them sends one more, a no-op). */
async function resend(deps: DetailSweepDeps, source: SourceConfig, s: DetailSummary): Promise<void> {
  const r = await deps.details.get(source.id, s.key);
  if (!r || r.state !== 'pending' && r.state !== 'fetching') return;
  await deps.queue.send(detailJob(source.id, r.key));
  if (r.state === 'pending') await deps.details.swap(touch(r, { nextAt: deps.clock.now() }, deps.clock.now()));
  deps.log.log('warn', `detail record ${r.key} had no job for ${Math.round((deps.clock.now() - Math.max(s.updatedAt, s.nextAt)) / 60_000)} min; re-enqueued`, { source: source.id, record: r.key });
}

/** A parked record back to pending, with a new job. */
export async function replayDetailRecord(deps: DetailSweepDeps, r: DetailRecord, opts: { automatic: boolean }): Promise<boolean> {
  // The sweep's mark first: the replayed record may be older than everything unfinished.
  await deps.details.lowerPendingFrom(r.sourceId, r.receivedMs);
  const updated = await deps.details.swap(replay(r, opts, deps.clock.now()));
  if (!updated) return false;
  await deps.queue.send(detailJob(r.sourceId, r.key));
  await deps.details.unmarkParked(r.sourceId, r.key);
  deps.log.log('info', `detail record ${r.key} replayed${opts.automatic ? ' automatically' : ''}`, { source: r.sourceId, record: r.key });
  return true;
}

/** Manual replay of parked detail records (all of the source, or the keys given); stray index entries are dropped. */
export async function replayParkedDetails(deps: DetailSweepDeps, source: SourceConfig, keys?: string[]): Promise<{ replayed: string[]; notParked: string[] }> {
  const replayed: string[] = [];
  const notParked: string[] = [];
  for (const key of keys ?? await deps.details.listParked(source.id)) {
    const r = await deps.details.get(source.id, key);
    if (!r || r.state !== 'parked') {
      if (keys) notParked.push(key);
      else await deps.details.unmarkParked(source.id, key);
      continue;
    }
    if (await replayDetailRecord(deps, r, { automatic: false })) replayed.push(key);
    else if (keys) notParked.push(key);
  }
  return { replayed, notParked };
}

/** Replays parked records whose cause has passed (the source collected since); returns how many stay parked. */
async function autoReplay(deps: DetailSweepDeps, source: SourceConfig, health: HealthRow | undefined): Promise<number> {
  const keys = await deps.details.listParked(source.id, 1000);
  let parked = 0;
  const recoveredSince = health?.state === 'Error' ? 0 : health?.lastSuccessAt ?? 0;
  for (const key of keys.slice(0, 200)) {
    const r = await deps.details.get(source.id, key);
    if (!r || r.state !== 'parked') {
      await deps.details.unmarkParked(source.id, key);
      continue;
    }
    const allowed = (AUTO_REPLAY_REASONS.has(r.parkReason) || r.parkReason.startsWith('destination:')) && r.autoReplays < MAX_AUTO_REPLAYS;
    if (allowed && recoveredSince > r.parkedAt && (await replayDetailRecord(deps, r, { automatic: true }))) continue;
    parked++;
  }
  return parked + Math.max(0, keys.length - 200);
}

/** Deletes records older than the source's detail retention plus a day, and old day counters. */
export async function pruneDetails(deps: DetailSweepDeps, source: SourceConfig): Promise<number> {
  const now = deps.clock.now();
  const cutoff = now - (source.details?.retentionMs ?? 90 * DAY_MS) - DAY_MS;
  const old: DetailSummary[] = [];
  for await (const s of deps.details.listRange(source.id, 0, cutoff, PRUNE_BATCH)) old.push(s);
  await deps.details.deleteRecords(source.id, old);
  for (const s of old) if (s.state === 'parked') await deps.details.unmarkParked(source.id, s.key);
  await deps.details.deleteDaysBefore(source.id, utcDay(now - DAY_COUNTERS_KEPT_DAYS * DAY_MS));
  if (old.length) deps.log.log('info', `source ${source.id}: pruned ${old.length} detail record(s) older than its detail retention`, { source: source.id });
  return old.length;
}

/** The `details` block of a source's status. */
export interface DetailStatus {
  enabled: boolean;
  statuses: string[];
  dailyRequestCap: number;
  /** Today (UTC): requests made and what happened to the rows. */
  today: Omit<DetailDay, 'etag'>;
  /** The last 7 UTC days together (today included). */
  last7Days: Omit<DetailDay, 'etag' | 'day'>;
  backlog: DetailBacklog;
  /** Parked records (at most 1000 counted) and the first 20. */
  parked: { count: number; records: { record: string; received: string; reason: string; parkedAt?: string; error: unknown }[] };
}

export async function detailStatus(deps: DetailSweepDeps, source: SourceConfig): Promise<DetailStatus | undefined> {
  const opts = source.details;
  if (!opts) return undefined;
  const now = deps.clock.now();
  const store = deps.details;
  const today = utcDay(now);
  const days = await store.listDays(source.id, utcDay(now - 6 * DAY_MS), today);
  const zero = { requests: 0, skippedCap: 0, skippedRetention: 0, done: 0, parked: 0, events: 0 };
  const strip = ({ etag: _e, day: _d, ...c }: DetailDay) => c;
  const todayRow = days.find((d) => d.day === today);
  const last7Days = days.reduce((a, d) => {
    const c = strip(d);
    return { requests: a.requests + c.requests, skippedCap: a.skippedCap + c.skippedCap, skippedRetention: a.skippedRetention + c.skippedRetention, done: a.done + c.done, parked: a.parked + c.parked, events: a.events + c.events };
  }, zero);
  const parkedKeys = await store.listParked(source.id, 1000);
  const records: DetailStatus['parked']['records'] = [];
  for (const key of parkedKeys.slice(0, 20)) {
    const r = await store.get(source.id, key);
    if (!r || r.state !== 'parked') continue;
    records.push({ record: r.key, received: new Date(r.receivedMs).toISOString(), reason: r.parkReason, ...(r.parkedAt ? { parkedAt: new Date(r.parkedAt).toISOString() } : {}), error: parseJson(r.lastError) });
  }
  return {
    enabled: opts.enabled, statuses: opts.statuses, dailyRequestCap: opts.dailyRequestCap,
    today: { day: today, ...(todayRow ? strip(todayRow) : zero) },
    last7Days,
    backlog: await sweepDetails(deps, source, { resend: false }),
    parked: { count: parkedKeys.length, records },
  };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
