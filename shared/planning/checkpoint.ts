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
 */
import type { SourceConfig } from '../components';
import type { Logger } from '../log';
import { pageJob, type JobQueue } from '../queue/jobs';
import type { CursorRow, Ledger, SliceRow } from '../state/ledger';
import { liveSliceId, liveSlicePrefixAt, newSlice } from '../state/ledger';
import type { Clock } from '../time/clock';

export const DENSITY_HALF_LIFE_MS = 6 * 3600_000;
/** Look-back when a hole is suspected at the start of the checked range (a slice may straddle it). */
const STRADDLE_LOOKBACK_MS = 24 * 3600_000;

export interface PlannerCheckpoint {
  /** Done live slices before this instant are in the density sums. */
  densityUntil: number;
  /** Decayed sums over done live slices: rows and covered milliseconds. */
  densityRows: number;
  densityMs: number;
  /** [watermark, checkedUntil) was covered by live slice rows at the last check. */
  checkedUntil: number;
}

export function encodeCheckpoint(c: PlannerCheckpoint): string {
  return [c.densityUntil, Math.round(c.densityRows * 1000) / 1000, Math.round(c.densityMs), c.checkedUntil].join(':');
}

export function decodeCheckpoint(text: string | undefined): PlannerCheckpoint | undefined {
  if (!text) return undefined;
  const parts = text.split(':').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const [densityUntil, densityRows, densityMs, checkedUntil] = parts as [number, number, number, number];
  return { densityUntil, densityRows, densityMs, checkedUntil };
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
export async function readSinceCheckpoint(deps: CheckpointDeps, source: SourceConfig, cursor: CursorRow, completedUntil: number): Promise<CheckpointResult> {
  const { ledger } = deps;
  const watermark = Math.max(completedUntil, cursor.startMs);
  let previous = decodeCheckpoint(cursor.checkpoint);
  if (previous && watermark < previous.densityUntil) {
    // The watermark went back (a restore from backup, a manual edit): what was checked may be gone.
    previous = { ...previous, densityUntil: watermark, checkedUntil: 0 };
  }
  let read = 0;
  const range = async function* (fromMs: number, toMs: number): AsyncGenerator<SliceRow> {
    if (toMs <= fromMs) return;
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
    cp = { densityUntil: watermark, densityRows: rows, densityMs: ms, checkedUntil: 0 };
  } else if (previous.densityUntil < watermark) {
    let rows = 0;
    let ms = 0;
    for await (const s of range(previous.densityUntil, watermark)) {
      if (counts(s) && s.startMs >= previous.densityUntil) { rows += s.rows; ms += s.endMs - s.startMs; }
    }
    const decay = Math.pow(0.5, (watermark - previous.densityUntil) / DENSITY_HALF_LIFE_MS);
    cp = { ...previous, densityUntil: watermark, densityRows: previous.densityRows * decay + rows, densityMs: previous.densityMs * decay + ms };
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
      let coveredUntil = from;
      for await (const s of range(Math.max(0, from - STRADDLE_LOOKBACK_MS), from)) {
        if (s.kind === 'live' && s.startMs <= from && s.endMs > coveredUntil) coveredUntil = s.endMs;
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
