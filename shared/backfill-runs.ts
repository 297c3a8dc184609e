/**
 * The life of a backfill run, each step safe to interrupt and to repeat:
 *
 * 1. **Admit** (`admitRun`): one compare-and-swap on the source's index of unfinished runs
 *    (shared/state/runs.ts) checks for an overlapping run and adds the new one in the same write.
 *    Of N identical requests racing, exactly one is admitted; the others see it and get 409.
 * 2. **Materialise** (`materialiseRun`): the run row (state `materialising`), then its slices, then
 *    one page job per slice still at page 0, then state `running`. The slices are cut again from
 *    the run's stored inputs, so every repetition writes the same slice ids.
 * 3. **Resume** (`resumeRuns`, from the planner's recovery pass): a run still `materialising`
 *    MATERIALISE_GRACE_MS after it was admitted (its request died half-way) is materialised again;
 *    a finished run (every slice done or parked) is marked `done` and leaves the index.
 *
 * A repeated page job is harmless: the page worker claims a slice before working on it and drops a
 * job for a page the slice has moved past.
 */
import type { SourceConfig } from './components';
import type { Ledger } from './state/ledger';
import { backfillSliceId, newSlice } from './state/ledger';
import { MAX_ACTIVE_RUNS, runStore, type ActiveRuns, type RunPlan, type RunRow } from './state/runs';
import { pageJob, type JobQueue } from './queue/jobs';
import type { Clock } from './time/clock';
import type { Logger } from './log';
import { cutRange } from './planning/density';

export interface RunDeps {
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
}

/** A run admitted this long ago and still materialising is taken over by recovery. */
export const MATERIALISE_GRACE_MS = 5 * 60_000;
/** Index writes attempted before a request gives up (each lost race means another request won). */
const ADMIT_ATTEMPTS = 4 * MAX_ACTIVE_RUNS + 8;
/** Slice writes and enqueues in flight at once while materialising. */
const WRITE_CONCURRENCY = 8;

export interface RunProgress {
  runId: string;
  state: 'materialising' | 'running' | 'done';
  start: string;
  end: string;
  slicesTotal: number;
  done: number;
  parked: number;
  rows: number;
  requests: number;
  createdAt: string;
}

export async function runProgress(deps: { ledger: Ledger }, run: RunRow): Promise<RunProgress> {
  let done = 0, parked = 0, rows = 0, requests = 0;
  for await (const s of deps.ledger.listSlices(run.sourceId, { fromRowKey: `B-${run.runId}-`, toRowKey: `B-${run.runId}.` })) {
    if (s.state === 'done') done++;
    if (s.state === 'parked') parked++;
    rows += s.rows;
    requests += s.requests;
  }
  const finished = run.state === 'done' || (run.state === 'running' && done + parked >= run.slicesTotal);
  return {
    runId: run.runId, state: run.state === 'materialising' ? 'materialising' : finished ? 'done' : 'running',
    start: new Date(run.startMs).toISOString(), end: new Date(run.endMs).toISOString(),
    slicesTotal: run.slicesTotal, done, parked, rows, requests, createdAt: new Date(run.createdAt).toISOString(),
  };
}

/** The slices of a run, cut from its stored inputs only (the same every time). */
export function runSlices(plan: RunPlan): { startMs: number; endMs: number }[] {
  return cutRange({ startMs: plan.startMs, endMs: plan.endMs }, { density: plan.density > 0 ? plan.density : undefined, sliceMs: plan.sliceMs, pageSize: plan.pageSize });
}

export type Admission =
  | { admitted: true }
  | { admitted: false; reason: 'overlap'; run: RunPlan }
  | { admitted: false; reason: 'full'; active: RunPlan[] }
  | { admitted: false; reason: 'busy' };

/**
 * Admits a run by one compare-and-swap on the source's index: the overlap check and the write are
 * the same operation. Finished runs found in the index on the way are marked done and dropped in
 * that same write.
 */
export async function admitRun(deps: RunDeps, sourceId: string, plan: RunPlan): Promise<Admission> {
  const store = runStore(deps.ledger);
  for (let attempt = 0; attempt < ADMIT_ATTEMPTS; attempt++) {
    const index = await store.getActive(sourceId);
    // Before the index existed, runs were found by listing run rows: carry the unfinished ones over.
    const listed = index.etag === undefined ? await legacyActive(deps, sourceId) : index.runs;
    const active: RunPlan[] = [];
    for (const r of listed) {
      if (!(await finishIfDone(deps, sourceId, r))) active.push(r);
    }
    // Runs for disjoint sets of destinations may overlap in time (a parked destination's replay).
    const overlapping = active.find((r) => r.startMs < plan.endMs && plan.startMs < r.endMs && sharesDestinations(r, plan));
    if (overlapping) return { admitted: false, reason: 'overlap', run: overlapping };
    if (active.length >= MAX_ACTIVE_RUNS) return { admitted: false, reason: 'full', active };
    if (await store.swapActive(index, [...active, plan])) {
      // The planner reads the run index only while this hint is set (or with its sweep).
      await deps.ledger.hintRuns(sourceId, deps.clock.now());
      return { admitted: true };
    }
  }
  return { admitted: false, reason: 'busy' };
}

/** Whether two runs deliver to a common destination (a run without a list delivers to all of them). */
function sharesDestinations(a: Pick<RunPlan, 'destinations'>, b: Pick<RunPlan, 'destinations'>): boolean {
  if (!a.destinations || !b.destinations) return true;
  return a.destinations.some((d) => b.destinations!.includes(d));
}

async function legacyActive(deps: RunDeps, sourceId: string): Promise<RunPlan[]> {
  const rows = await runStore(deps.ledger).listRuns(sourceId);
  return rows.filter((r) => r.state !== 'done').slice(-MAX_ACTIVE_RUNS).map(planOf);
}

function planOf(r: RunRow): RunPlan {
  return {
    runId: r.runId, startMs: r.startMs, endMs: r.endMs, createdAt: r.createdAt,
    density: r.density, sliceMs: r.sliceMs > 0 ? r.sliceMs : 60_000, pageSize: r.pageSize > 0 ? r.pageSize : 5000, slicesTotal: r.slicesTotal,
    ...(r.destinations ? { destinations: r.destinations } : {}),
  };
}

/** True when the run is finished (now marked done, by compare-and-swap); false while it still has work. */
async function finishIfDone(deps: RunDeps, sourceId: string, plan: RunPlan): Promise<boolean> {
  const store = runStore(deps.ledger);
  for (let attempt = 0; attempt < 4; attempt++) {
    const run = await store.getRun(sourceId, plan.runId);
    if (!run || run.state === 'materialising') return false;
    if (run.state === 'done') return true;
    const progress = await runProgress(deps, run);
    if (progress.state !== 'done') return false;
    if (await store.setRunState(run, 'done')) {
      deps.log.log('info', `source ${sourceId}: backfill ${run.runId} finished (${progress.done} slice(s) done, ${progress.parked} parked)`, { source: sourceId, runId: run.runId });
      return true;
    }
  }
  return false;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * Writes an admitted run: its row (if missing), every slice (if missing), a page job for every
 * slice still waiting at page 0 unclaimed, then state `running`. Safe to repeat and to run twice
 * at once.
 */
export async function materialiseRun(deps: RunDeps, sourceId: string, plan: RunPlan): Promise<void> {
  const store = runStore(deps.ledger);
  await store.createRun(sourceId, plan, 'materialising');
  const slices = runSlices(plan);
  if (slices.length !== plan.slicesTotal) {
    deps.log.log('error', `source ${sourceId}: backfill ${plan.runId} cuts into ${slices.length} slice(s) now but ${plan.slicesTotal} when it was started; the slicing code changed in between`, { source: sourceId, runId: plan.runId });
  }
  const now = deps.clock.now();
  const ids = slices.map((s) => backfillSliceId(plan.runId, s.startMs, s.endMs));
  await inBatches(slices, WRITE_CONCURRENCY, (s) =>
    deps.ledger.createSlice({
      ...newSlice({ sourceId, id: backfillSliceId(plan.runId, s.startMs, s.endMs), kind: 'backfill', runId: plan.runId, startMs: s.startMs, endMs: s.endMs }, now),
      ...(plan.destinations ? { only: plan.destinations } : {}),
    }));
  const waiting = new Set<string>();
  for await (const s of deps.ledger.listSlices(sourceId, { fromRowKey: `B-${plan.runId}-`, toRowKey: `B-${plan.runId}.` })) {
    if (s.state === 'pending' && s.page === 0 && !(s.claimOwner && s.claimUntil > deps.clock.now())) waiting.add(s.id);
  }
  await inBatches(ids.filter((id) => waiting.has(id)), WRITE_CONCURRENCY, (sliceId) => deps.queue.send(pageJob(sourceId, sliceId, 0)));
  for (let attempt = 0; attempt < 8; attempt++) {
    const run = await store.getRun(sourceId, plan.runId);
    if (!run || run.state !== 'materialising') return;
    if (await store.setRunState(run, 'running')) return;
  }
}

/**
 * The recovery pass over a source's unfinished runs: materialises again a run whose request died
 * half-way (still `materialising` MATERIALISE_GRACE_MS after admission), and moves finished runs
 * out of the index (one compare-and-swap). Returns how many runs it materialised and finished.
 */
export async function resumeRuns(
  deps: RunDeps, source: Pick<SourceConfig, 'id'>,
  /** The run index as the caller just read it (the planner's sweep), instead of a second read. */
  known?: ActiveRuns,
): Promise<{ materialised: number; finished: number; active: number }> {
  const store = runStore(deps.ledger);
  const now = deps.clock.now();
  let materialised = 0;
  const index = known ?? await store.getActive(source.id);
  for (const plan of index.runs) {
    if (now - plan.createdAt < MATERIALISE_GRACE_MS) continue;
    const run = await store.getRun(source.id, plan.runId);
    if (run && run.state !== 'materialising') continue;
    deps.log.log('warn', `source ${source.id}: backfill ${plan.runId} was interrupted while its slices were being written; completing it`, { source: source.id, runId: plan.runId });
    await materialiseRun(deps, source.id, plan);
    materialised++;
  }
  let finished = 0;
  let active = index.runs.length;
  for (let attempt = 0; attempt < 8; attempt++) {
    // The index read above serves the first attempt unless a run was materialised meanwhile (one read a planner run, issue 19).
    const current = attempt === 0 && materialised === 0 ? index : await store.getActive(source.id);
    active = current.runs.length;
    if (!current.runs.length) break;
    const keep: RunPlan[] = [];
    for (const r of current.runs) if (!(await finishIfDone(deps, source.id, r))) keep.push(r);
    if (keep.length === current.runs.length) break;
    if (await store.swapActive(current, keep)) {
      finished = current.runs.length - keep.length;
      active = keep.length;
      break;
    }
  }
  return { materialised, finished, active };
}
