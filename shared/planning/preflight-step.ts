/**
 * Preflight diagnostics as their own budgeted step (issue 19), next to the planning of the timer
 * run, never inside it: the planner plans a new source at once, and its preflight (a token and a
 * one-row probe, seconds each) runs here, PREFLIGHT_CONCURRENCY at a time, starting new ones only
 * within `budgetMs` of the step's start; the rest wait for the next timer run. 1000 new sources
 * therefore cost every run at most the budget, and no source's lag waits for another's preflight.
 *
 * Which sources are due is remembered per process (the configuration hash a preflight finished
 * for), so a steady run reads no health row for it; after a cold start each source's preflight
 * record is read once.
 */
import type { SourceConfig } from '../components';
import { DEFAULT_PREFLIGHT_RECHECK_MS, preflightIfChanged, readPreflight, type PreflightRuntime } from '../diagnostics/preflight';

export const PREFLIGHT_CONCURRENCY = 16;
/** New preflights start only this long after the step began (clock time). */
export const PREFLIGHT_BUDGET_MS = 20_000;
const RUNNING_RECHECK_MS = 10 * 60_000;

/** Per ledger and source: the hash whose preflight is recorded, and when to look again. */
const known = new Map<string, { hash: string; recheckAt: number }>();

export interface PreflightStepResult {
  /** Sources whose preflight ran in this step. */
  ran: number;
  /** Due sources left for the next step (the budget ran out). */
  left: number;
}

export async function runDuePreflights(
  rt: PreflightRuntime, sources: readonly SourceConfig[], opts: { budgetMs?: number; concurrency?: number } = {},
): Promise<PreflightStepResult> {
  const start = rt.clock.now();
  const budgetMs = opts.budgetMs ?? PREFLIGHT_BUDGET_MS;
  const due = sources.filter((s) => {
    if (!s.enabled) return false;
    const k = known.get(`${rt.ledger.prefix}/${s.id}`);
    return !k || k.hash !== rt.configHashOf(s) || rt.clock.now() >= k.recheckAt;
  });
  let ran = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < due.length && rt.clock.now() - start < budgetMs) {
      const source = due[next++]!;
      const key = `${rt.ledger.prefix}/${source.id}`;
      const hash = rt.configHashOf(source);
      try {
        const record = await readPreflight(rt.ledger, source.id);
        const settled = record && record.hash === hash && record.state !== 'Running';
        if (!settled || (record.state === 'Error' && rt.clock.now() - record.at >= DEFAULT_PREFLIGHT_RECHECK_MS)) {
          const d = await preflightIfChanged(rt, source);
          if (d) ran++;
        }
        const after = await readPreflight(rt.ledger, source.id);
        if (after && after.hash === hash) {
          const recheckAt = after.state === 'Error' ? after.at + DEFAULT_PREFLIGHT_RECHECK_MS
            : after.state === 'Running' ? after.at + RUNNING_RECHECK_MS : Number.POSITIVE_INFINITY;
          known.set(key, { hash, recheckAt });
        }
      } catch (err) {
        rt.log.log('warn', `source ${source.id}: preflight not run: ${(err as Error).message}`, { source: source.id });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? PREFLIGHT_CONCURRENCY, due.length) }, worker));
  return { ran, left: due.length - next };
}
