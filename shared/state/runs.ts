/**
 * Backfill runs in Table Storage (table `<prefix>runs`, one partition per source):
 *
 * - one row per run (RowKey = the run id): its range, the inputs its slices were cut from
 *   (density, slice length, page size) and its state. Its slices can always be cut again, the same,
 *   from this row alone, so a run interrupted while its slices were being written is completed by
 *   recovery (shared/backfill-runs.ts `resumeRuns`).
 * - one index row per source (RowKey `!active`): the runs that are not finished. A run is admitted
 *   by one compare-and-swap on this row (ETag If-Match, or a conditional create when it does not
 *   exist yet; ARCHITECTURE invariant 10): the overlap check and the admission are one write, so of
 *   twenty identical requests racing, exactly one is admitted. Finished runs leave it by the same
 *   compare-and-swap.
 *
 * Worst-case sizes: the index holds at most MAX_ACTIVE_RUNS entries of about 200 characters each
 * (`runs` is under 2 000 characters; a Table string property holds 32K). A run row is a handful of
 * numbers and short strings. Every write to either is conditional: a run row is created only if it
 * does not exist and changes state only if its ETag still matches.
 */
import type { TableClient } from '@azure/data-tables';
import { z } from 'zod';
import { isStatus } from './storage';

export type RunState = 'materialising' | 'running' | 'done';

/** Everything needed to cut a run's slices again, identically: written in the index before anything else. */
export interface RunPlan {
  runId: string;
  startMs: number;
  endMs: number;
  createdAt: number;
  /** Rows per ms the slices were cut for (0 = unknown: cut by `sliceMs`). */
  density: number;
  sliceMs: number;
  pageSize: number;
  slicesTotal: number;
  /**
   * A run for some destinations only (the replay of a parked destination re-collects what it
   * missed for it alone); absent: every destination of the source.
   */
  destinations?: string[];
}

export interface RunRow extends RunPlan {
  sourceId: string;
  /** `materialising` until every slice exists and has been enqueued once. */
  state: RunState;
  etag: string;
}

export interface ActiveRuns {
  sourceId: string;
  runs: RunPlan[];
  /** Undefined when the index row does not exist yet. */
  etag?: string;
}

/** Backfills of one source that may run at once (the index's bound). */
export const MAX_ACTIVE_RUNS = 8;
/** RowKey of the per-source index of unfinished runs ('!' sorts before every run id). */
export const ACTIVE_INDEX_KEY = '!active';

const RunPlanSchema = z.object({
  runId: z.string().min(1).max(64),
  startMs: z.number(),
  endMs: z.number(),
  createdAt: z.number(),
  density: z.number().min(0),
  sliceMs: z.number().positive(),
  pageSize: z.number().int().positive(),
  slicesTotal: z.number().int().min(0),
  destinations: z.array(z.string().min(1).max(64)).min(1).max(32).optional(),
}).strip();

type Entity = Record<string, unknown> & { rowKey?: string; etag?: string };

function toRun(sourceId: string, e: Entity): RunRow {
  return {
    sourceId, runId: String(e.rowKey), startMs: Number(e.startMs), endMs: Number(e.endMs),
    state: String(e.state) as RunState, slicesTotal: Number(e.slicesTotal), createdAt: Number(e.createdAt),
    density: Number(e.density ?? 0), sliceMs: Number(e.sliceMs ?? 0), pageSize: Number(e.pageSize ?? 0),
    ...(typeof e.destinations === 'string' && e.destinations ? { destinations: e.destinations.split(',') } : {}),
    etag: String(e.etag),
  };
}

function esc(s: string): string {
  return s.replace(/'/g, "''");
}

export class RunStore {
  constructor(readonly table: TableClient) {}

  /** The index of unfinished runs (an empty list without an etag when the row does not exist). */
  async getActive(sourceId: string): Promise<ActiveRuns> {
    try {
      const e = await this.table.getEntity<Entity>(sourceId, ACTIVE_INDEX_KEY);
      const parsed = z.array(RunPlanSchema).safeParse(JSON.parse(String(e.runs ?? '[]')));
      if (!parsed.success) throw new Error(`the backfill index of source ${sourceId} is damaged: ${parsed.error.issues[0]?.message ?? 'not a list'}`);
      return { sourceId, runs: parsed.data, etag: String(e.etag) };
    } catch (err) {
      if (isStatus(err, 404)) return { sourceId, runs: [] };
      throw err;
    }
  }

  /**
   * Compare-and-swap of the index: replaces its run list if nobody changed it since `index` was read
   * (creates it if it did not exist then). Returns false on a lost race.
   */
  async swapActive(index: ActiveRuns, runs: RunPlan[]): Promise<boolean> {
    if (runs.length > MAX_ACTIVE_RUNS) throw new RangeError(`at most ${MAX_ACTIVE_RUNS} backfill runs may be active per source; got ${runs.length}`);
    const entity = { partitionKey: index.sourceId, rowKey: ACTIVE_INDEX_KEY, runs: JSON.stringify(runs) };
    try {
      if (index.etag === undefined) await this.table.createEntity(entity);
      else await this.table.updateEntity(entity, 'Replace', { etag: index.etag });
      return true;
    } catch (err) {
      if (isStatus(err, 409) || isStatus(err, 412) || isStatus(err, 404)) return false;
      throw err;
    }
  }

  /** Creates the run row if it does not exist; returns false when it already did. */
  async createRun(sourceId: string, plan: RunPlan, state: RunState): Promise<boolean> {
    const p = RunPlanSchema.parse(plan);
    try {
      await this.table.createEntity({
        partitionKey: sourceId, rowKey: p.runId, startMs: p.startMs, endMs: p.endMs, state, slicesTotal: p.slicesTotal,
        createdAt: p.createdAt, density: p.density, sliceMs: p.sliceMs, pageSize: p.pageSize,
        ...(p.destinations ? { destinations: p.destinations.join(',') } : {}),
      });
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false;
      throw err;
    }
  }

  async getRun(sourceId: string, runId: string): Promise<RunRow | undefined> {
    if (runId === ACTIVE_INDEX_KEY) return undefined;
    try {
      return toRun(sourceId, await this.table.getEntity<Entity>(sourceId, runId));
    } catch (err) {
      if (isStatus(err, 404) || isStatus(err, 400)) return undefined;
      throw err;
    }
  }

  /** Every run row of the source (not the index). */
  async listRuns(sourceId: string): Promise<RunRow[]> {
    const out: RunRow[] = [];
    const filter = `PartitionKey eq '${esc(sourceId)}' and RowKey ne '${ACTIVE_INDEX_KEY}'`;
    for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter } })) out.push(toRun(sourceId, e));
    return out;
  }

  /** Compare-and-swap of a run's state. Returns the updated row, or undefined when the row changed since it was read. */
  async setRunState(r: RunRow, state: RunState): Promise<RunRow | undefined> {
    try {
      const res = await this.table.updateEntity({ partitionKey: r.sourceId, rowKey: r.runId, state }, 'Merge', { etag: r.etag });
      return { ...r, state, etag: res.etag ?? '' };
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) return undefined;
      throw err;
    }
  }
}

/** The run store over a ledger's runs table. */
export function runStore(ledger: { runs: TableClient }): RunStore {
  return new RunStore(ledger.runs);
}
