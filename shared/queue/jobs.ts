/**
 * Jobs of the page-job queue: tiny, versioned, base64 queue messages (ARCHITECTURE invariant 5).
 * They carry ids, a page number and retry bookkeeping, never payloads or secrets.
 *
 * One queue carries every kind of job, so one trigger, one poison path and one retry model serve
 * them all: page jobs (no `kind` field, as every version wrote them) and the kinds of
 * `OTHER_JOB_SCHEMAS`, each with its own `kind`. `processJob` (shared/worker/jobs.ts) dispatches.
 */
import { z } from 'zod';
import type { QueueClient } from '@azure/storage-queue';
import type { Clock } from '../time/clock';
import { currentTraceparent } from '../telemetry';

/** Azure Table PartitionKey/RowKey characters: no / \ # ? and no control characters. */
// eslint-disable-next-line no-control-regex -- the control characters are what the pattern excludes
const TABLE_KEY = /^[^/\\#?\u0000-\u001f\u007f-\u009f]+$/;

/** The longest row ETag a job carries (`created`; Azure Table ETags are about 50 characters; a longer one is not sent). */
export const MAX_CREATED_ETAG = 100;

export const PageJobSchema = z.object({
  v: z.literal(1),
  sourceId: z.string().min(1).max(64).regex(TABLE_KEY, 'must be a valid Table row id: no / \\ # ? or control characters'),
  sliceId: z.string().min(1).max(200).regex(TABLE_KEY, 'must be a valid Table row id: no / \\ # ? or control characters'),
  page: z.number().int().min(0).max(1_000_000),
  /** Retry attempt of this page (0 on first try). */
  attempt: z.number().int().min(0).max(10_000).default(0),
  /** Clock time before which the job must not run (retry backoff, budget waits). */
  notBefore: z.number().int().min(0).optional(),
  /**
   * W3C trace context of the work that enqueued it (`JobQueue.send` sets it from the active span),
   * so the page, its continuation and its retries are one trace. A malformed value is ignored
   * (the job starts a new trace), never a reason to reject the job.
   */
  traceparent: z.string().max(128).optional(),
  /**
   * A first page job of a live or re-read slice its planner has just created (issue 19): the new
   * row's ETag and creation time. The row is then what the planner wrote, so the worker claims it
   * with If-Match on that ETag instead of reading it first; a row changed since (412) is read and
   * judged as usual (shared/worker/stages/guard.ts). A redelivered message always reads the row.
   */
  created: z.object({ etag: z.string().min(1).max(MAX_CREATED_ETAG), at: z.number().int().min(0) }).strict().optional(),
}).strict();

export type PageJob = z.infer<typeof PageJobSchema>;

/** Fields every job kind other than a page job has: its kind, then what it names and its retry bookkeeping. */
export const JOB_BASE = {
  v: z.literal(1),
  sourceId: PageJobSchema.shape.sourceId,
  attempt: PageJobSchema.shape.attempt,
  notBefore: PageJobSchema.shape.notBefore,
  traceparent: PageJobSchema.shape.traceparent,
};

/**
 * A destination's drain (shared/delivery/drain.ts): deliver what waits in its backlog for one
 * source. Several may be queued; the progress row's lease lets one work at a time.
 */
export const DeliveryJobSchema = z.object({
  ...JOB_BASE,
  kind: z.literal('delivery'),
  destination: z.string().min(1).max(64).regex(TABLE_KEY, 'must be a valid Table row id: no / \\ # ? or control characters'),
  /**
   * The drain lease another job held when this one last looked (shared/delivery/drain.ts
   * `watchLease`): this job comes back after that lease and ends only if its holder renewed it
   * meanwhile (alive, its own job goes on), else it takes the lease over.
   */
  watched: z.object({ owner: z.string().min(1).max(200), until: z.number().int().min(0) }).strict().optional(),
}).strict();

export type DeliveryJob = z.infer<typeof DeliveryJobSchema>;

/** The drain job of a destination's backlog for a source, at its first attempt. */
export function deliveryJob(sourceId: string, destination: string): DeliveryJob {
  return { v: 1, kind: 'delivery', sourceId, destination, attempt: 0 };
}

/**
 * A detail job (issue 17): one getDetailsByRecipient call for one qualifying row, named by its
 * detail record (`<prefix>details`, shared/details/store.ts). The record holds everything else.
 */
export const DetailJobSchema = z.object({
  ...JOB_BASE,
  kind: z.literal('detail'),
  /** The detail record's RowKey: `<receivedMs>~<row key>~<status>`. */
  record: z.string().min(1).max(200).regex(TABLE_KEY, 'must be a valid Table row id: no / \\ # ? or control characters'),
}).strict();

export type DetailJob = z.infer<typeof DetailJobSchema>;

/**
 * Most first-attempt page jobs one batch message carries (the app setting MTC_PAGE_BATCH_MAX is
 * at most this). Even with ids at their longest (64 + 200 characters), a traceparent and the
 * longest `created` each, such a message is about 23 K characters of base64, under half the
 * queue's 64 KiB (test/unit/page-batch.test.ts); with real ids and ETags it is a few K.
 */
export const MAX_PAGE_BATCH = 32;

/**
 * A batch (issue 19): the first page jobs of small live slices of several sources, planned in one
 * timer run, in one message, so one execution (one receive, one delete, one host request record)
 * runs them all, each with its own claim and outcome. A quiet tenant's slice holds a few rows a
 * request, and the host's cost per message was most of its cost.
 */
export const PageBatchJobSchema = z.object({
  v: z.literal(1),
  kind: z.literal('pages'),
  jobs: z.array(PageJobSchema).min(1).max(MAX_PAGE_BATCH),
  traceparent: PageJobSchema.shape.traceparent,
  /** Never set: a batch is sent at once (its entries' retries and delays are single page jobs). */
  notBefore: z.never().optional(),
}).strict();

export type PageBatchJob = z.infer<typeof PageBatchJobSchema>;

/** The job kinds besides page jobs, each a strict object with a literal `kind` (one entry per kind). */
const OTHER_JOB_SCHEMAS = [DeliveryJobSchema, DetailJobSchema, PageBatchJobSchema] as const;

/** Any job of the queue. */
export type QueueJob = PageJob | DeliveryJob | DetailJob | PageBatchJob;

/** A page job (the kind without a `kind` field). */
export function isPageJob(job: QueueJob): job is PageJob {
  return !('kind' in job);
}

function schemaFor(value: unknown): z.ZodType<QueueJob> {
  const kind = value !== null && typeof value === 'object' && 'kind' in value ? (value as { kind: unknown }).kind : undefined;
  if (kind === undefined) return PageJobSchema;
  const schema = (OTHER_JOB_SCHEMAS as readonly z.ZodObject[]).find((s) => (s.shape.kind as z.ZodLiteral<string>).value === kind);
  return (schema ?? UNKNOWN_KIND) as unknown as z.ZodType<QueueJob>;
}

const UNKNOWN_KIND = z.object({ kind: z.never({ error: 'is not a job kind this version knows' }) });

/** The job for page `page` of a slice, at its first attempt: the one way a new page job is made. */
export function pageJob(sourceId: string, sliceId: string, page: number, created?: PageJob['created']): PageJob {
  return { v: 1, sourceId, sliceId, page, attempt: 0, ...(created && page === 0 ? { created } : {}) };
}

/**
 * The same page job without its planner's row (`created`): for a job sent again after its slice
 * row changed (a retry, a budget wait), whose worker must read the row.
 */
export function withoutCreated(job: PageJob): PageJob {
  if (!job.created) return job;
  const { created: _created, ...rest } = job;
  return rest;
}

/** A batch of first page jobs (`jobs` of at most MAX_PAGE_BATCH). */
export function pageBatchJob(jobs: PageJob[]): PageBatchJob {
  return { v: 1, kind: 'pages', jobs };
}

export function isPageBatch(job: QueueJob): job is PageBatchJob {
  return 'kind' in job && job.kind === 'pages';
}

/** The same job, tried once more (a retry after a failed attempt). */
export function nextAttempt<J extends Exclude<QueueJob, PageBatchJob>>(job: J): J {
  return { ...job, attempt: job.attempt + 1 };
}

/** The detail job of one detail record, at its first attempt: the one way a new detail job is made. */
export function detailJob(sourceId: string, record: string): DetailJob {
  return { v: 1, kind: 'detail', sourceId, record, attempt: 0 };
}

export function isDetailJob(job: QueueJob): job is DetailJob {
  return 'kind' in job && job.kind === 'detail';
}

export class JobSchemaError extends Error {
  /** `what`: the kind the message claims to be ("page job", "detail job", "job" for an unknown kind). */
  constructor(readonly issues: string[], readonly excerpt: string, what = 'page job') {
    super(`The queue message is not a valid ${what}: ${issues.join('; ')}`);
    this.name = 'JobSchemaError';
  }
}

/** Validates a trigger payload (the host hands over parsed JSON, or a string when it is not JSON). */
export function decodeJob(payload: unknown): QueueJob {
  let value = payload;
  if (typeof payload === 'string') {
    try {
      value = JSON.parse(payload);
    } catch {
      throw new JobSchemaError(['the message is not JSON'], payload.slice(0, 120));
    }
  }
  const parsed = schemaFor(value).safeParse(value);
  if (!parsed.success) {
    const kind = value !== null && typeof value === 'object' && 'kind' in value ? (value as { kind: unknown }).kind : undefined;
    const what = kind === undefined ? 'page job' : kind === 'detail' ? 'detail job' : kind === 'pages' ? 'page batch' : 'job';
    throw new JobSchemaError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`),
      JSON.stringify(value)?.slice(0, 120) ?? '',
      what,
    );
  }
  return parsed.data;
}

/** Validates a payload that must be a page job (tests, tools that only handle page jobs). */
export function decodePageJob(payload: unknown): PageJob {
  const job = decodeJob(payload);
  if (!isPageJob(job)) throw new JobSchemaError([`kind: a ${job.kind} job, not a page job`], JSON.stringify(job).slice(0, 120));
  return job;
}

export function encodeJob(job: QueueJob): string {
  return Buffer.from(JSON.stringify(schemaFor(job).parse(job)), 'utf8').toString('base64');
}

export class JobQueue {
  constructor(
    readonly client: QueueClient,
    private readonly clock: Clock,
  ) {}

  /**
   * Sends a job; `delayMs` (clock time) becomes the message's initial visibility delay. The job
   * carries the traceparent of the active span (planner, backfill, page worker), else its own.
   */
  async send(job: QueueJob, opts: { delayMs?: number } = {}): Promise<void> {
    const delayMs = Math.max(0, opts.delayMs ?? 0);
    const visibilityTimeout = Math.min(7 * 24 * 3600 - 60, Math.ceil(this.clock.toRealMs(delayMs) / 1000));
    const traceparent = currentTraceparent() ?? job.traceparent;
    const traced: QueueJob = traceparent ? { ...job, traceparent } : job;
    if (delayMs > 0 && isPageBatch(traced)) throw new Error('a page batch is never delayed: its entries retry and wait as single page jobs');
    await this.client.sendMessage(encodeJob(delayMs > 0 ? { ...(traced as Exclude<QueueJob, PageBatchJob>), notBefore: this.clock.now() + delayMs } : traced), {
      ...(visibilityTimeout > 0 ? { visibilityTimeout } : {}),
    });
  }
}
