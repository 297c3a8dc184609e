/**
 * The one entry for a job of the page-job queue: dispatches on its kind (shared/queue/jobs.ts).
 * The Functions trigger, the local host, the tests' harness and the benchmark all call this.
 */
import { isPageJob, type QueueJob } from '../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from './deps';
import { processPageJob } from './page-worker';

export async function processJob(deps: WorkerDeps, job: QueueJob, meta: MessageMeta): Promise<PageResultSummary> {
  if (isPageJob(job)) return processPageJob(deps, job, meta);
  const never: never = job;
  throw new Error(`no handler for the job kind of ${JSON.stringify(never)}`);
}
