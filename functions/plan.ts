/**
 * Timer: plan new live slices for every enabled source (schedule from app setting MTC_PLAN_SCHEDULE),
 * then refresh the source's gauges (lag, planning lag, budget use) from what the planning read
 * (shared/planning/plan-tick.ts). Each source with something due is one span, so the page jobs
 * it enqueues start that source's trace; a run with nothing due for a source records none.
 */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import { SpanStatusCode } from '@opentelemetry/api';
import { getRuntime } from '../shared/runtime';
import { planSources, planSourceTick } from '../shared/planning/plan-tick';
import { runDuePreflights } from '../shared/planning/preflight-step';
import { asCollectorError } from '../shared/errors';
import { SPANS, withSpan, type GaugeDeps } from '../shared/telemetry';
import type { PlannerDeps, PlanOutcome } from '../shared/planning/planner';

export async function plan(_timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  const gaugeDeps: GaugeDeps = { ledger: rt.ledger, clock: rt.clock, telemetry: rt.telemetry, budget: rt.budget };
  // Sources are planned in parallel (MTC_PLAN_CONCURRENCY at a time, planSources): a preflight or a
  // slow table call of one tenant does not delay the others.
  const spanOptions = (source: { id: string }) => ({ invocation: context.traceContext?.traceParent, attributes: { 'mtc.source': source.id } });
  const planOne = async (deps: PlannerDeps, source: (typeof rt.config.sources)[number]) => {
    // The source's mtc.plan span covers its planning once the cursor says something is due
    // (PlannerDeps.inSpan): a quiet tenant's run with nothing due records no span.
    let spanned = false;
    const inSpan = (run: () => Promise<PlanOutcome>) => withSpan(SPANS.plan, spanOptions(source), async (span) => {
      spanned = true;
      const outcome = await run();
      span.setAttribute('mtc.outcome', outcome.outcome);
      return outcome;
    });
    const r = await planSourceTick({ ...deps, inSpan }, gaugeDeps, source);
    if (r.outcome?.outcome === 'planned') context.log(`planned ${r.outcome.slices} slice(s) for ${source.id}`);
    if (r.planError !== undefined) {
      const e = asCollectorError(r.planError);
      // A failure before the decision (the cursor read) still shows as a failed mtc.plan span.
      if (!spanned) await withSpan(SPANS.plan, spanOptions(source), async (span) => { span.setStatus({ code: SpanStatusCode.ERROR, message: e.message }); });
      context.error(`planning ${source.id} failed: ${e.message}`);
    }
    if (r.gaugeError !== undefined) context.warn(`telemetry gauges of ${source.id} not refreshed: ${asCollectorError(r.gaugeError).message}`);
  };
  // Preflights of new or changed sources are a budgeted step beside the planning, never inside it.
  const preflights = runDuePreflights(rt, rt.config.sources).then((r) => {
    if (r.left) context.log(`preflight: ${r.ran} run, ${r.left} left for the next run`);
  }, (err: unknown) => context.warn(`preflight step failed: ${asCollectorError(err).message}`));
  // Small live slices' first page jobs go out in page batches (MTC_PAGE_BATCH_MAX).
  await Promise.all([planSources(rt, rt.config.sources, rt.settings, planOne), preflights]);
}

app.timer('plan', { schedule: '%MTC_PLAN_SCHEDULE%', handler: plan });
