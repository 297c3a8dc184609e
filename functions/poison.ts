/**
 * Queue trigger on the poison queue: a page job that failed maxDequeueCount times (a crash loop,
 * an unhandled error) becomes a parked slice with its reason; a message that is not a page job is
 * recorded as unattributed poison, shown in status. A message this trigger cannot bind (not base64)
 * ends in `<queue>-poison-poison`, which the poisonSweep timer empties. Nothing sits in a queue unseen.
 */
import { app, type InvocationContext } from '@azure/functions';
import { getRuntime } from '../shared/runtime';
import { handlePoisonMessage } from '../shared/worker/poison';

export async function poison(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  const outcome = await handlePoisonMessage(rt, message, String(context.triggerMetadata?.id ?? context.invocationId), { queue: `${rt.queueName}-poison` });
  context.warn(`poison message: ${outcome}`);
}

app.storageQueue('poison', { queueName: '%MTC_PAGE_QUEUE%-poison', connection: 'JobsStorage', handler: poison });
