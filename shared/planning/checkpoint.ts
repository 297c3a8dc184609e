/**
 * The planner's checkpoint (issue 19): what the planner has already read of a source's ledger, kept
 * in the source's cursor row (property `checkpoint`, written with the planner's own cursor swap),
 * so each planning run reads only what changed since the last one, by key range:
 *
 * - density: the done live slices between `densityUntil` and the completed watermark (the slices
 *   finished since the last run) are folded into decayed sums of rows and milliseconds
 *   (half-life DENSITY_HALF_LIFE_MS), instead of re-reading 6 hours of slices every minute;
 * - holes: coverage of [watermark, scheduledUntil) by live slice rows is checked from
 *   `checkedUntil` (where the last check ended) to the cursor, instead of from 24 hours back.
 *
 * Both reads are RowKey ranges of one partition (live slice ids are `L-<start>-<end>`), with no
 * filter on other properties, so the service reads only the entities returned. At steady state a
 * run reads the slices finished and planned since the last run: a handful, whatever the age of
 * the ledger. Without a checkpoint (a new source, or a cursor written by an earlier version) the
 * density is seeded once from the last 6 hours. A watermark behind the checkpoint (a restore from
 * backup, a manual edit) makes the next run check coverage from the watermark again.
 *
 * - live reads per settle bucket: the same fold notes, per settle bucket, when its live slices
 *   last finished (their `updatedAt`), and keeps the buckets whose live read came at least the first
 *   re-read age after the bucket closed (a cold start, a catch-up: the settle planner skips their
 *   early re-reads). The settle planner asks the checkpoint instead of reading the bucket's live
 *   slices again with the hours before it (a slice may straddle the bucket's start): that read was
 *   half the planner's entities from hour 2 on. Late buckets are kept as runs of equal finish time
 *   until every re-read level has passed them, at most MAX_LATE_RUNS (older ones are then read
 *   from the ledger again, as before).
 */
import type { SourceConfig } from '../components';
import type { Logger } from '../log';
import { pageJob, type JobQueue } from '../queue/jobs';
import type { CursorRow, Ledger, SliceRow } from '../state/ledger';
import { liveSliceId, liveSlicePrefixAt, newSlice } from '../state/ledger';
import type { Clock } from '../time/clock';

export const DENSITY_HALF_LIFE_MS = 6 * 3600_000;
/** First look-back when a hole is suspected at the start of the checked range (a slice may straddle it); doubled until a slice is found. */
const STRADDLE_LOOKBACK_MS = 3600_000;

/** Late settle buckets kept in the checkpoint at most (a run of buckets with one finish time each). */
export const MAX_LATE_RUNS = 64;

/** Settle buckets [fromMs, toMs) whose live slices last finished at `doneAt`. */
export interface LateRun { fromMs: number; toMs: number; doneAt: number }

/** When each settle bucket's live read finished, as far as the checkpoint's fold has seen. */
export interface LiveReads {
  /** The settle bucket length these figures are for (a configuration change starts over). */
  bucketMs: number;
  /** Buckets later than this age are late; a smaller first re-read age starts over. */
  minAgeMs: number;
  /** Buckets from here to `densityUntil` are known: in `late`, or not late. */
  fromMs: number;
  /** The latest finish so far of the live slices in the bucket that holds `densityUntil`. */
  openDoneAt: number;
  late: LateRun[];
}

export interface PlannerCheckpoint {
  /** Done live slices before this instant are in the density sums. */
  densityUntil: number;
  /** Decayed sums over done live slices: rows and covered milliseconds. */
  densityRows: number;
  densityMs: number;
  /** [watermark, checkedUntil) was covered by live slice rows at the last check. */
  checkedUntil: number;
  /** Settle buckets' live reads (absent: re-reads are off, or a checkpoint of an earlier version). */
  reads?: LiveReads;
}

export function encodeCheckpoint(c: PlannerCheckpoint): string {
  const head = [c.densityUntil, Math.round(c.densityRows * 1000) / 1000, Math.round(c.densityMs), c.checkedUntil].join(':');
  if (!c.reads) return head;
  const r = c.reads;
  return [head, r.bucketMs, r.minAgeMs, r.fromMs, r.openDoneAt, r.late.map((l) => `${l.fromMs},${l.toMs},${l.doneAt}`).join(';')].join(':');
}

export function decodeCheckpoint(text: string | undefined): PlannerCheckpoint | undefined {
  if (!text) return undefined;
  const fields = text.split(':');
  if (fields.length !== 4 && fields.length !== 9) return undefined;
  const parts = fields.slice(0, 8).map(Number);
  if (parts.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const [densityUntil, densityRows, densityMs, checkedUntil] = parts as [number, number, number, number];
  const cp: PlannerCheckpoint = { densityUntil, densityRows, densityMs, checkedUntil };
  if (fields.length === 9) {
    const [bucketMs, minAgeMs, fromMs, openDoneAt] = parts.slice(4) as [number, number, number, number];
    const late: LateRun[] = [];
    for (const item of fields[8] ? fields[8].split(';') : []) {
      const [a, b, d] = item.split(',').map(Number) as [number, number, number];
      // A damaged run makes the whole record unknown (the settle planner reads the ledger instead).
      if (![a, b, d].every((n) => Number.isFinite(n) && n >= 0) || !(b > a)) return cp;
      late.push({ fromMs: a, toMs: b, doneAt: d });
    }
    if (bucketMs > 0) cp.reads = { bucketMs, minAgeMs, fromMs, openDoneAt, late };
  }
  return cp;
}

/**
 * When the live read of settle bucket [bucket, bucket + bucketMs) finished, from the checkpoint: its
 * finish time when it was late, 0 when it was not (before the bucket's end + the first re-read age:
 * no re-read level is skipped), undefined when the checkpoint does not know (read the ledger).
 */
export function liveReadDoneAt(c: PlannerCheckpoint, bucket: number, bucketMs: number): number | undefined {
  const r = c.reads;
  if (!r || r.bucketMs !== bucketMs || bucket < r.fromMs || bucket + bucketMs > c.densityUntil) return undefined;
  for (const l of r.late) if (l.fromMs <= bucket && bucket < l.toMs) return l.doneAt;
  return 0;
}

/** Drops the late buckets every re-read level has passed (`plannedUntil`: the least level's planning point). */
export function pruneLiveReads(c: PlannerCheckpoint, plannedUntil: number): PlannerCheckpoint {
  if (!c.reads) return c;
  const late = c.reads.late.filter((l) => l.toMs > plannedUntil);
  return late.length === c.reads.late.length ? c : { ...c, reads: { ...c.reads, late } };
}

/** Where a fold that starts at `densityUntil` knows every bucket from (the bucket of a new source's start, else the next boundary). */
export function startLiveReads(densityUntil: number, sourceStartMs: number, bucketMs: number, minAgeMs: number): LiveReads {
  const fromMs = densityUntil <= sourceStartMs ? Math.floor(densityUntil / bucketMs) * bucketMs : Math.ceil(densityUntil / bucketMs) * bucketMs;
  return { bucketMs, minAgeMs, fromMs, openDoneAt: 0, late: [] };
}

/**
 * Folds the live slices read between the previous `densityUntil` and the watermark into the
 * buckets' finish times: buckets that end by the watermark are closed (kept when late), the one
 * that holds the watermark stays open.
 */
export function foldLiveReads(r: LiveReads, fromUntil: number, watermark: number, slices: readonly Pick<SliceRow, 'startMs' | 'endMs' | 'updatedAt'>[]): LiveReads {
  const B = r.bucketMs;
  const latest = new Map<number, number>();
  const open = Math.floor(fromUntil / B) * B;
  if (fromUntil % B !== 0 && open >= r.fromMs) latest.set(open, r.openDoneAt);
  for (const s of slices) {
    for (let b = Math.max(r.fromMs, Math.floor(s.startMs / B) * B); b < s.endMs; b += B) latest.set(b, Math.max(latest.get(b) ?? 0, s.updatedAt));
  }
  const late = r.late.map((l) => ({ ...l }));
  let fromMs = r.fromMs;
  for (const b of [...latest.keys()].sort((x, y) => x - y)) {
    if (b + B > watermark) continue;
    const doneAt = latest.get(b)!;
    if (doneAt < b + B + r.minAgeMs) continue;
    const last = late[late.length - 1];
    if (last && last.toMs === b && last.doneAt === doneAt) last.toMs = b + B;
    else late.push({ fromMs: b, toMs: b + B, doneAt });
  }
  while (late.length > MAX_LATE_RUNS) fromMs = Math.max(fromMs, late.shift()!.toMs);
  const holder = Math.floor(watermark / B) * B;
  return { ...r, fromMs, late, openDoneAt: watermark % B !== 0 ? latest.get(holder) ?? 0 : 0 };
}

export function checkpointDensity(c: PlannerCheckpoint): number | undefined {
  return c.densityMs > 0 ? c.densityRows / c.densityMs : undefined;
}

export interface CheckpointDeps {
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
}

export interface CheckpointResult {
  checkpoint: PlannerCheckpoint;
  density: number | undefined;
  /** Live ranges no slice covered, now created and enqueued. */
  holes: number;
  /** Live slices read (entities), for tests and the benchmark's explanation. */
  read: number;
}

const counts = (s: SliceRow) => s.kind === 'live' && s.state === 'done' && s.parkReason !== 'expired-history' && s.endMs > s.startMs;

/**
 * Reads what changed since the checkpoint: folds newly done live slices into the density, and
 * creates (and enqueues) a live slice for any range between the watermark and the cursor that no
 * slice covers (a lost ledger write, a restore from backup, a manual edit). Hole filling runs only
 * when the cursor's outbox is empty, so every slice the cursor planned already exists.
 */
export async function readSinceCheckpoint(
  deps: CheckpointDeps, source: SourceConfig, cursor: CursorRow, completedUntil: number,
  /** `fresh`: the cursor was created in this run, so no slice of it exists and nothing is read (a new source's first run). */
  opts: { fresh?: boolean } = {},
): Promise<CheckpointResult> {
  const { ledger } = deps;
  const watermark = Math.max(completedUntil, cursor.startMs);
  let previous = decodeCheckpoint(cursor.checkpoint);
  const B = source.settleBucketMs;
  const minAge = source.settleRereadsMs.length ? Math.min(...source.settleRereadsMs) : 0;
  const tracking = B > 0 && source.settleRereadsMs.length > 0;
  if (previous && watermark < previous.densityUntil) {
    // The watermark went back (a restore from backup, a manual edit): what was checked may be gone.
    previous = { ...previous, densityUntil: watermark, checkedUntil: 0 };
    delete previous.reads;
  }
  if (previous && tracking && (!previous.reads || previous.reads.bucketMs !== B || previous.reads.minAgeMs > minAge)) {
    // Re-reads turned on, a checkpoint of an earlier version, or a new bucket length: start here.
    previous = { ...previous, reads: startLiveReads(previous.densityUntil, cursor.startMs, B, minAge) };
  }
  if (previous && !tracking) delete previous.reads;
  let read = 0;
  const range = async function* (fromMs: number, toMs: number): AsyncGenerator<SliceRow> {
    if (toMs <= fromMs || opts.fresh) return;
    for await (const s of ledger.listSlices(source.id, { fromRowKey: liveSlicePrefixAt(fromMs), toRowKey: liveSlicePrefixAt(toMs) })) {
      read++;
      yield s;
    }
  };

  // Density.
  let cp: PlannerCheckpoint;
  if (!previous) {
    let rows = 0;
    let ms = 0;
    for await (const s of range(Math.max(0, watermark - DENSITY_HALF_LIFE_MS), watermark)) {
      if (counts(s)) { rows += s.rows; ms += s.endMs - s.startMs; }
    }
    cp = { densityUntil: watermark, densityRows: rows, densityMs: ms, checkedUntil: 0, ...(tracking ? { reads: startLiveReads(watermark, cursor.startMs, B, minAge) } : {}) };
  } else if (previous.densityUntil < watermark) {
    let rows = 0;
    let ms = 0;
    const folded: SliceRow[] = [];
    for await (const s of range(previous.densityUntil, watermark)) {
      if (counts(s) && s.startMs >= previous.densityUntil) { rows += s.rows; ms += s.endMs - s.startMs; }
      if (s.kind === 'live' && s.startMs >= previous.densityUntil) folded.push(s);
    }
    const decay = Math.pow(0.5, (watermark - previous.densityUntil) / DENSITY_HALF_LIFE_MS);
    cp = { ...previous, densityUntil: watermark, densityRows: previous.densityRows * decay + rows, densityMs: previous.densityMs * decay + ms };
    if (previous.reads) cp.reads = foldLiveReads(previous.reads, previous.densityUntil, watermark, folded);
  } else {
    cp = { ...previous };
  }

  // Holes.
  let holes = 0;
  if (!cursor.pending.length) {
    const from = Math.min(Math.max(watermark, cp.checkedUntil), cursor.scheduledUntil);
    let expected = from;
    const found: { startMs: number; endMs: number }[] = [];
    for await (const s of range(from, cursor.scheduledUntil)) {
      if (s.kind !== 'live' || s.endMs <= expected) continue;
      if (s.startMs > expected) found.push({ startMs: expected, endMs: s.startMs });
      expected = Math.max(expected, s.endMs);
    }
    if (expected < cursor.scheduledUntil) found.push({ startMs: expected, endMs: cursor.scheduledUntil });
    if (found.length && found[0]!.startMs === from) {
      // A slice that starts before `from` may cover its start: look back before calling it a hole.
      // Live slices tile the range, so the latest ones to start before `from` decide; they are
      // looked for further back each time (an hour, two, four...: a cold start's slice is up to
      // 10 days long, a gap of expired history longer), back to the source's start at most.
      let coveredUntil = from;
      let hi = from;
      for (let back = STRADDLE_LOOKBACK_MS; hi > cursor.startMs; back *= 2) {
        const lo = Math.max(cursor.startMs, from - back);
        let any = false;
        for await (const s of range(lo, hi)) {
          if (s.kind !== 'live') continue;
          any = true;
          if (s.startMs <= from && s.endMs > coveredUntil) coveredUntil = s.endMs;
        }
        if (any) break;
        hi = lo;
      }
      const first = found[0]!;
      if (coveredUntil >= first.endMs) found.shift();
      else if (coveredUntil > first.startMs) first.startMs = coveredUntil;
    }
    const now = deps.clock.now();
    for (const h of found) {
      const id = liveSliceId(h.startMs, h.endMs);
      if (await ledger.createSlice(newSlice({ sourceId: source.id, id, kind: 'live', runId: '', startMs: h.startMs, endMs: h.endMs }, now))) {
        await deps.queue.send(pageJob(source.id, id, 0));
        deps.log.log('warn', `source ${source.id}: no slice covered ${new Date(h.startMs).toISOString()} to ${new Date(h.endMs).toISOString()}; collecting it now`, { source: source.id, slice: id });
        holes++;
      }
    }
    cp.checkedUntil = cursor.scheduledUntil;
  }
  return { checkpoint: cp, density: checkpointDensity(cp), holes, read };
}
