/**
 * The one entry for a job of the page-job queue: dispatches on its kind (shared/queue/jobs.ts).
 * The Functions trigger, the local host, the tests' harness and the benchmark all call this.
 */
import { isPageJob, type QueueJob } from '../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from './deps';
import { processPageJob } from './page-worker';
import { processDeliveryJob } from '../delivery/drain';

export async function processJob(deps: WorkerDeps, job: QueueJob, meta: MessageMeta): Promise<PageResultSummary> {
  if (isPageJob(job)) return processPageJob(deps, job, meta);
  switch (job.kind) {
    case 'delivery': return processDeliveryJob(deps, job, meta);
    default: {
      const never: never = job.kind;
      throw new Error(`no handler for the job kind ${String(never)}`);
    }
  }
}

/** What a job is about, for logs and span attributes (source, and its slice and page or its destination). */
export function jobAttributes(job: QueueJob): Record<string, string | number> {
  if (isPageJob(job)) return { 'mtc.source': job.sourceId, 'mtc.slice': job.sliceId, 'mtc.page': job.page, 'mtc.attempt': job.attempt };
  return { 'mtc.source': job.sourceId, 'mtc.job_kind': job.kind, 'mtc.destination': job.destination, 'mtc.attempt': job.attempt };
}

/** A short description of a job for logs. */
export function describeJob(job: QueueJob): string {
  return isPageJob(job) ? `page ${job.page} of ${job.sliceId}` : `${job.kind} of ${job.destination} for ${job.sourceId}`;
}
