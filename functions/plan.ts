/** Timer: plan new live slices for every enabled source (schedule from app setting MTC_PLAN_SCHEDULE). */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRuntime } from '../shared/runtime';
import { planSource } from '../shared/planning/planner';
import { asCollectorError } from '../shared/errors';

export async function plan(_timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  for (const source of rt.config.sources) {
    try {
      const result = await planSource(rt, source);
      if (result.outcome === 'planned') context.log(`planned ${result.slices} slice(s) for ${source.id}`);
    } catch (err) {
      const e = asCollectorError(err);
      context.error(`planning ${source.id} failed: ${e.message}`);
    }
  }
}

app.timer('plan', { schedule: '%MTC_PLAN_SCHEDULE%', handler: plan });
