/**
 * The one entry for a job of the page-job queue: dispatches on its kind (shared/queue/jobs.ts).
 * The Functions trigger, the local host, the tests' harness and the benchmark all call this.
 */
import { isPageBatch, isPageJob, type PageBatchJob, type PageJob, type QueueJob } from '../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from './deps';
import type { HealthRow, Ledger } from '../state/ledger';
import type { Logger } from '../log';
import { processPageJob } from './page-worker';
import { processDeliveryJob } from '../delivery/drain';
import { processDetailJob } from '../details/job';

/** Runs one entry of a batch: the page worker, or the trigger's span around it (functions/page-worker.ts). */
export type BatchEntryRunner = (job: PageJob, meta: MessageMeta) => Promise<PageResultSummary>;

export async function processJob(deps: WorkerDeps, job: QueueJob, meta: MessageMeta): Promise<PageResultSummary> {
  if (isPageJob(job)) return processPageJob(deps, job, meta);
  switch (job.kind) {
    case 'delivery': return processDeliveryJob(deps, job, meta);
    case 'detail': return processDetailJob(deps, job, meta);
    case 'pages': return processPageBatch(job, meta, (entry, entryMeta) => processPageJob(deps, entry, entryMeta), deps.ledger, deps.log);
    default: {
      const never: never = job;
      throw new Error(`no handler for the job kind ${JSON.stringify((never as { kind?: unknown }).kind)}`);
    }
  }
}

/** Thrown when an entry of a batch failed past its own handling: the host redelivers the whole batch. */
export class BatchEntryFailed extends Error {
  constructor(readonly failures: { entry: PageJob; error: unknown }[], readonly of: number) {
    const first = failures[0]!;
    super(`${failures.length} of ${of} page job(s) of the batch failed (the host retries the batch; its finished pages are no-ops then): ${describeJob(first.entry)}: ${first.error instanceof Error ? first.error.message : String(first.error)}`);
    this.name = 'BatchEntryFailed';
  }
}

/**
 * A batch's page jobs, all at once, each as if it were its own message: its own claim owner (the
 * message id and its index, the same on every redelivery) and the batch's dequeue count (so a
 * redelivery restores a lost continuation, guard.ts). Every entry runs to its end whatever the
 * others do; then, if any threw (storage trouble past the stages' own handling), the batch throws
 * and the host delivers it again: the entries already recorded are duplicates then (a read each),
 * the others run again, exactly as a redelivered single job would.
 */
export async function processPageBatch(job: PageBatchJob, meta: MessageMeta, runEntry: BatchEntryRunner, ledger?: Pick<Ledger, 'listHealthOf'>, log?: Logger): Promise<PageResultSummary> {
  const health = ledger ? await batchHealth(job, ledger, log) : undefined;
  const settled = await Promise.allSettled(job.jobs.map((entry, i) => runEntry(entry, {
    ...batchEntryMeta(meta, i),
    ...(health ? { health: { row: health.get(entry.sourceId) } } : {}),
  })));
  const failures = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ entry: job.jobs[i]!, error: s.reason as unknown }] : []));
  if (failures.length) throw new BatchEntryFailed(failures, job.jobs.length);
  return { outcome: 'batch', entries: settled.map((s) => (s as PromiseFulfilledResult<PageResultSummary>).value) };
}

/**
 * The health rows of a batch's sources, one query for all (issue 19: a point read per entry was
 * one storage operation per page of a quiet tenant). Each entry's guard takes its row from here as
 * from its own read at the same moment: every write that follows on it is a compare-and-swap on
 * the ETag read. When the query fails, each entry reads its own (a warning, nothing lost).
 */
async function batchHealth(job: PageBatchJob, ledger: Pick<Ledger, 'listHealthOf'>, log?: Logger): Promise<Map<string, HealthRow> | undefined> {
  try {
    const rows = new Map<string, HealthRow>();
    for await (const h of ledger.listHealthOf([...new Set(job.jobs.map((j) => j.sourceId))])) rows.set(h.sourceId, h);
    return rows;
  } catch (err) {
    log?.log('warn', `page batch: reading the health rows of its sources at once failed (${(err as Error).message}); each entry reads its own`, {});
    return undefined;
  }
}

/** The message meta of a batch's entry `i`: stable across redeliveries, unique in the queue. */
export function batchEntryMeta(meta: MessageMeta, i: number): MessageMeta {
  return { messageId: `${meta.messageId}~${i}`, dequeueCount: meta.dequeueCount };
}

/** The outcomes a result stands for: its own, or each of a batch's entries. */
export function outcomesOf(result: PageResultSummary): PageResultSummary[] {
  return result.entries ?? [result];
}

/** What a job is about, for logs and span attributes (source, and its slice and page, its destination or its detail record). */
export function jobAttributes(job: QueueJob): Record<string, string | number> {
  if (isPageJob(job)) return { 'mtc.source': job.sourceId, 'mtc.slice': job.sliceId, 'mtc.page': job.page, 'mtc.attempt': job.attempt };
  if (isPageBatch(job)) return { 'mtc.job_kind': job.kind, 'mtc.batch_size': job.jobs.length };
  if (job.kind === 'detail') return { 'mtc.source': job.sourceId, 'mtc.job_kind': job.kind, 'mtc.detail_record': job.record, 'mtc.attempt': job.attempt };
  return { 'mtc.source': job.sourceId, 'mtc.job_kind': job.kind, 'mtc.destination': job.destination, 'mtc.attempt': job.attempt };
}

/** A short description of a job for logs. */
export function describeJob(job: QueueJob): string {
  if (isPageJob(job)) return `page ${job.page} of ${job.sliceId}`;
  if (isPageBatch(job)) return `batch of ${job.jobs.length} page job(s) (${job.jobs.slice(0, 3).map((j) => `${j.sourceId}/${j.sliceId}`).join(', ')}${job.jobs.length > 3 ? ', …' : ''})`;
  if (job.kind === 'detail') return `detail job of ${job.record} for ${job.sourceId}`;
  return `${job.kind} of ${job.destination} for ${job.sourceId}`;
}

/** The sources a job works for (a batch's entries' sources, once each). */
export function jobSources(job: QueueJob): string[] {
  return isPageBatch(job) ? [...new Set(job.jobs.map((j) => j.sourceId))] : [job.sourceId];
}
