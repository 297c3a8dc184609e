/** Queue trigger: fetch and forward one page of one slice. */
import { app, type InvocationContext } from '@azure/functions';
import { getRuntime } from '../shared/runtime';
import { decodeJob, JobSchemaError } from '../shared/queue/jobs';
import { processPageJob } from '../shared/worker/page-worker';
import { recordUnattributedPoison } from '../shared/worker/poison';

export async function pageWorker(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  let job;
  try {
    job = decodeJob(message);
  } catch (err) {
    if (!(err instanceof JobSchemaError)) throw err;
    // Parked with its reason at once: retrying a message that fails its schema cannot help.
    await recordUnattributedPoison(rt, String(context.triggerMetadata?.id ?? context.invocationId), err.message, err.excerpt);
    return;
  }
  const meta = {
    messageId: String(context.triggerMetadata?.id ?? context.invocationId),
    dequeueCount: Number(context.triggerMetadata?.dequeueCount ?? 1),
  };
  const result = await processPageJob(rt, job, meta);
  context.debug(`page ${job.page} of ${job.sliceId}: ${result.outcome}`);
}

app.storageQueue('pageWorker', { queueName: '%MTC_PAGE_QUEUE%', connection: 'JobsStorage', handler: pageWorker });
