/**
 * Queue trigger: one job of the page-job queue (a page of a slice, a batch of first pages, a
 * destination's drain, a detail request), in a span that continues the job's trace. A batch's
 * entries each get their own `mtc.page` span, as if each were its own message.
 */
import { app, type InvocationContext } from '@azure/functions';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { getRuntime, type Runtime } from '../shared/runtime';
import { decodeJob, isPageBatch, isPageJob, JobSchemaError, type PageBatchJob, type QueueJob } from '../shared/queue/jobs';
import { describeJob, jobAttributes, processJob, processPageBatch } from '../shared/worker/jobs';
import type { MessageMeta, PageResultSummary } from '../shared/worker/deps';
import { recordUnattributedPoison } from '../shared/worker/poison';
import { SPANS, withSpan } from '../shared/telemetry';

export async function pageWorker(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  const messageId = String(context.triggerMetadata?.id ?? context.invocationId);
  let job;
  try {
    job = decodeJob(message);
  } catch (err) {
    if (!(err instanceof JobSchemaError)) throw err;
    // Parked with its reason at once: retrying a message that fails its schema cannot help.
    await recordUnattributedPoison(rt, messageId, err.message, err.excerpt);
    return;
  }
  const meta = { messageId, dequeueCount: Number(context.triggerMetadata?.dequeueCount ?? 1) };
  if (isPageBatch(job)) {
    await processPageBatch(job, meta, (entry, entryMeta) => runInSpan(rt, entry, entryMeta, context), rt.ledger, rt.log);
    context.debug(`${describeJob(job)}: done`);
    return;
  }
  await runInSpan(rt, job, meta, context);
}


async function runInSpan(rt: Runtime, job: Exclude<QueueJob, PageBatchJob>, meta: MessageMeta, context: InvocationContext): Promise<PageResultSummary> {
  const attributes = {
    ...jobAttributes(job),
    'messaging.system': 'azure_storage_queue', 'messaging.message.id': meta.messageId, 'mtc.dequeue_count': meta.dequeueCount,
  };
  // Child of the enqueuer's span (planner, backfill, previous page, retry); linked to the host's invocation.
  return withSpan(isPageJob(job) ? SPANS.page : job.kind === 'detail' ? SPANS.detail : SPANS.delivery, { parent: job.traceparent, invocation: context.traceContext?.traceParent, kind: SpanKind.CONSUMER, attributes }, async (span) => {
    const result = await processJob(rt, job, meta);
    span.setAttribute('mtc.outcome', result.outcome);
    if (result.rowsForwarded !== undefined) span.setAttribute('mtc.rows', result.rowsForwarded);
    if (result.error) {
      span.setAttributes({ 'error.type': result.error.type, 'mtc.error.code': result.error.code });
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.message });
    }
    context.debug(`${describeJob(job)}: ${result.outcome}`);
    return result;
  });
}

app.storageQueue('pageWorker', { queueName: '%MTC_PAGE_QUEUE%', connection: 'JobsStorage', handler: pageWorker });
