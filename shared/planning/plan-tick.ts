/**
 * One source's part of a planner timer run (functions/plan.ts, and the benchmark that runs the
 * same code): plan it, then refresh its gauges from what the planning read (PlanReads), reading
 * only what it did not. A failure of either is returned, not thrown, so one source's trouble does
 * not stop the others.
 */
import type { SourceConfig } from '../components';
import { refreshSourceGauges, type GaugeDeps } from '../telemetry';
import { PageJobBatcher } from '../queue/batcher';
import { forEachSource, planSource, type PlannerDeps, type PlanOutcome, type PlanReads } from './planner';
import { prefetchPlanRows, type BudgetUsageSource } from './prefetch';

export interface SourceTickResult {
  outcome?: PlanOutcome;
  planError?: unknown;
  gaugeError?: unknown;
}

export async function planSourceTick(deps: PlannerDeps, gaugeDeps: GaugeDeps, source: SourceConfig): Promise<SourceTickResult> {
  const result: SourceTickResult = {};
  const reads: PlanReads = {};
  try {
    result.outcome = await planSource(deps, source, reads);
  } catch (err) {
    result.planError = err;
  }
  try {
    // After a failed run the rows it read may be stale: read them again.
    // The tenant's budget usage from the run's one query over the budget table (prefetch.ts).
    const budget = deps.prefetch?.budgetUsage(source.tenantId);
    await refreshSourceGauges(gaugeDeps, source, result.planError === undefined ? { ...reads, ...(budget ? { budget } : {}) } : undefined);
  } catch (err) {
    result.gaugeError = err;
  }
  return result;
}

/**
 * The planning step of a timer run (functions/plan.ts, the benchmark, the tests' harness): every
 * cursor, health row and (with `opts.budget`) tenant budget read at once (prefetch.ts), then every
 * source through `planOne` (planSourceTick, in the caller's span), `settings.planConcurrency`
 * (MTC_PLAN_CONCURRENCY) at a time, with one batcher for the run when `settings.pageBatchMax`
 * (MTC_PAGE_BATCH_MAX) is above 1: the first page jobs of small live slices go out in page
 * batches. Returns the messages and jobs it batched.
 */
export async function planSources<S extends SourceConfig>(
  deps: PlannerDeps, sources: readonly S[], settings: { pageBatchMax: number; planConcurrency: number }, planOne: (deps: PlannerDeps, source: S) => Promise<void>,
  opts: { budget?: BudgetUsageSource } = {},
): Promise<{ messages: number; jobs: number }> {
  // Every cursor, health row and tenant budget at once, one query per table (prefetch.ts).
  const prefetch = sources.length ? await prefetchPlanRows(deps, opts.budget) : undefined;
  const run: PlannerDeps = prefetch ? { ...deps, prefetch } : deps;
  if (settings.pageBatchMax <= 1) {
    await forEachSource(sources, (source) => planOne(run, source), settings.planConcurrency);
    return { messages: 0, jobs: 0 };
  }
  const batcher = new PageJobBatcher(deps.queue, settings.pageBatchMax);
  const batching: PlannerDeps = { ...run, batcher };
  await forEachSource(sources, (source) => batcher.run(() => planOne(batching, source)), settings.planConcurrency);
  return { ...batcher.sent };
}
