/**
 * One source's part of a planner timer run (functions/plan.ts, and the benchmark that runs the
 * same code): plan it, then refresh its gauges from what the planning read (PlanReads), reading
 * only what it did not. A failure of either is returned, not thrown, so one source's trouble does
 * not stop the others.
 */
import type { SourceConfig } from '../components';
import { refreshSourceGauges, type GaugeDeps } from '../telemetry';
import { planSource, type PlannerDeps, type PlanOutcome, type PlanReads } from './planner';

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
    await refreshSourceGauges(gaugeDeps, source, result.planError === undefined ? reads : undefined);
  } catch (err) {
    result.gaugeError = err;
  }
  return result;
}
