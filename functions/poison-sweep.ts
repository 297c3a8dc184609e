/**
 * Timer (every 5 minutes): empties `<page queue>-poison-poison`, where the host puts messages even
 * the poison trigger could not bind (not base64), into unattributed poison records shown by status,
 * and reports both poison queues' depths for an alert. Nothing sits in a queue unseen.
 */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRuntime } from '../shared/runtime';
import { sweepPoisonQueues } from '../shared/worker/poison';

export async function poisonSweep(_timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  const result = await sweepPoisonQueues(rt);
  if (result.handled) context.warn(`poison sweep: ${result.handled} message(s) recorded as unattributed poison`);
}

app.timer('poisonSweep', { schedule: '0 */5 * * * *', handler: poisonSweep });
