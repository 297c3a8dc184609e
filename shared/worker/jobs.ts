/**
 * The one entry for a job of the page-job queue: dispatches on its kind (shared/queue/jobs.ts).
 * The Functions trigger, the local host, the tests' harness and the benchmark all call this.
 */
import { isPageJob, type QueueJob } from '../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from './deps';
import { processPageJob } from './page-worker';
import { processDetailJob } from '../details/job';

export async function processJob(deps: WorkerDeps, job: QueueJob, meta: MessageMeta): Promise<PageResultSummary> {
  if (isPageJob(job)) return processPageJob(deps, job, meta);
  switch (job.kind) {
    case 'detail':
      return processDetailJob(deps, job, meta);
    default: {
      const never: never = job.kind;
      throw new Error(`no handler for the job kind ${JSON.stringify(never)}`);
    }
  }
}
