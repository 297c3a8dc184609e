/**
 * The one entry for a job of the page-job queue: dispatches on its kind (shared/queue/jobs.ts).
 * The Functions trigger, the local host, the tests' harness and the benchmark all call this.
 */
import { isPageJob, type QueueJob } from '../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from './deps';
import { processPageJob } from './page-worker';
import { processDeliveryJob } from '../delivery/drain';
import { processDetailJob } from '../details/job';

export async function processJob(deps: WorkerDeps, job: QueueJob, meta: MessageMeta): Promise<PageResultSummary> {
  if (isPageJob(job)) return processPageJob(deps, job, meta);
  switch (job.kind) {
    case 'delivery': return processDeliveryJob(deps, job, meta);
    case 'detail': return processDetailJob(deps, job, meta);
    default: {
      const never: never = job;
      throw new Error(`no handler for the job kind ${JSON.stringify((never as { kind?: unknown }).kind)}`);
    }
  }
}

/** What a job is about, for logs and span attributes (source, and its slice and page, its destination or its detail record). */
export function jobAttributes(job: QueueJob): Record<string, string | number> {
  if (isPageJob(job)) return { 'mtc.source': job.sourceId, 'mtc.slice': job.sliceId, 'mtc.page': job.page, 'mtc.attempt': job.attempt };
  if (job.kind === 'detail') return { 'mtc.source': job.sourceId, 'mtc.job_kind': job.kind, 'mtc.detail_record': job.record, 'mtc.attempt': job.attempt };
  return { 'mtc.source': job.sourceId, 'mtc.job_kind': job.kind, 'mtc.destination': job.destination, 'mtc.attempt': job.attempt };
}

/** A short description of a job for logs. */
export function describeJob(job: QueueJob): string {
  if (isPageJob(job)) return `page ${job.page} of ${job.sliceId}`;
  if (job.kind === 'detail') return `detail job of ${job.record} for ${job.sourceId}`;
  return `${job.kind} of ${job.destination} for ${job.sourceId}`;
}
