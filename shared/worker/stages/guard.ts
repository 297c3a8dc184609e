/**
 * Stage 1, guard: decide whether this job may work on its page at all, before anything is claimed
 * or spent. A job for a gone source or slice is dropped; one not yet due, or meeting a live claim,
 * comes back later; a stale or early copy is a no-op (a lost continuation is restored); a stopped
 * source parks the slice without a request.
 */
import { z } from 'zod';
import type { SourceConfig } from '../../components';
import { CollectorError } from '../../errors';
import { newSlice, plannedSliceFields, type HealthRow, type SliceRow } from '../../state/ledger';
import { pageJob, type PageJob } from '../../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from '../deps';
import { parkSlice } from './retry-or-park';

export interface Admitted {
  source: SourceConfig;
  slice: SliceRow;
  health: HealthRow | undefined;
  /**
   * The slice row was not read: it is the row the job says its planner created (`job.created`).
   * A claim refused on its ETag means the row changed since: read it and judge the job again.
   */
  assumed?: boolean;
}

/** The page the job names, unclaimed and due, or the outcome that ends the job here. */
export async function guard(deps: WorkerDeps, job: PageJob, meta: MessageMeta): Promise<Admitted | PageResultSummary> {
  const { ledger, log } = deps;
  const fields = { source: job.sourceId, slice: job.sliceId, page: job.page };
  const source = deps.config.sources.find((s) => s.id === job.sourceId);
  if (!source) {
    log.log('warn', 'page job for a source that is no longer configured; dropped', fields);
    return { outcome: 'unknown-source' };
  }
  const now = deps.clock.now();
  if (job.notBefore !== undefined && job.notBefore > now) {
    await deps.queue.send(job, { delayMs: job.notBefore - now });
    return { outcome: 'deferred' };
  }

  const assumed = createdRow(job, meta);
  const slice = assumed ?? await ledger.getSlice(job.sourceId, job.sliceId);
  if (!slice) {
    log.log('error', 'page job for a slice the ledger does not know; dropped', fields);
    return { outcome: 'unknown-slice' };
  }
  if (slice.state === 'done' || slice.state === 'parked') return { outcome: 'duplicate' };
  const liveClaim = Boolean(slice.claimOwner) && slice.claimUntil > now;
  if (job.page < slice.page) {
    // A redelivered message whose earlier attempt recorded the page but died before enqueueing the
    // continuation: make sure the continuation exists (duplicates are absorbed by the claim).
    if (meta.dequeueCount > 1 && job.page === slice.page - 1 && !liveClaim) {
      await deps.queue.send(pageJob(job.sourceId, job.sliceId, slice.page));
      log.log('warn', 'restored a continuation lost by an interrupted worker', fields);
    }
    return { outcome: 'duplicate' };
  }
  if (job.page > slice.page) {
    log.log('error', `page job ahead of the ledger (ledger is at page ${slice.page}); dropped`, fields);
    return { outcome: 'duplicate' };
  }
  if (liveClaim) {
    // A live claim is never taken over, not even by a redelivery of the same message: its holder
    // is still working (it renews the claim). Come back when the claim would have lapsed; by then
    // the holder has recorded the page (this job is a no-op) or died (this job takes over).
    await deps.queue.send(job, { delayMs: slice.claimUntil - now + 1000 });
    return { outcome: 'claimed-elsewhere' };
  }

  // A source stopped by a ThirdPartyConfig error spends no request until its configuration changes.
  // A page batch's entry has its row from the batch's one query (shared/worker/jobs.ts).
  const health = meta.health ? meta.health.row : await ledger.getHealth(source.id);
  if (health?.state === 'Error' && health.configHash === deps.configHashOf(source)) {
    const error = stoppedSourceError(source.id, health.lastError);
    const parked = await parkSlice(deps, source, slice, 'config', error, 0, { recordInHealth: false });
    return parked ? { outcome: 'parked' } : { outcome: 'claimed-elsewhere' };
  }
  return { source, slice, health, ...(assumed ? { assumed: true } : {}) };
}

/**
 * The row a first page job's planner created (`job.created`: its ETag and creation time), rebuilt
 * from the slice id as the planner built it (newSlice), for a claim without a read. Only on a
 * first delivery: a redelivered message may follow an attempt that changed the row.
 */
function createdRow(job: PageJob, meta: MessageMeta): SliceRow | undefined {
  if (!job.created || job.page !== 0 || meta.dequeueCount > 1) return undefined;
  const fields = plannedSliceFields(job.sourceId, job.sliceId);
  return fields ? { ...newSlice(fields, job.created.at), etag: job.created.etag } : undefined;
}

/** The error that stopped a source, as its health row keeps it (`CollectorError.toHealth()` as JSON). */
const StoppedBySchema = z.object({
  type: z.string().optional(),
  code: z.string().optional(),
  message: z.string().optional(),
  fix: z.string().optional(),
  statusCode: z.number().optional(),
  excerpt: z.string().optional(),
});

/**
 * The error a stopped source's page jobs park with (from the stop's health record). A damaged
 * record still stops the source; the error then says the record is unreadable and how to go on.
 */
export function stoppedSourceError(sourceId: string, lastError: string): CollectorError {
  const read = readStoppedBy(lastError);
  if (!read.ok) {
    return new CollectorError('ThirdPartyConfig', `the source is stopped: configuration error (the health record's lastError is unreadable: ${read.problem})`, {
      code: 'SourceStopped', retryable: false,
      fix: `Find the configuration error with \`mtc diagnose\` or GET /api/status/${sourceId}, fix it, then POST /api/sources/${sourceId}/replay.`,
    });
  }
  const text = (v: string | undefined) => (v ? v : undefined);
  const fix = text(read.stoppedBy.fix);
  return new CollectorError('ThirdPartyConfig', `the source is stopped: ${text(read.stoppedBy.message) ?? 'configuration error'}`, {
    code: text(read.stoppedBy.code) ?? 'SourceStopped', retryable: false, ...(fix ? { fix } : {}),
  });
}

function readStoppedBy(lastError: string): { ok: true; stoppedBy: z.infer<typeof StoppedBySchema> } | { ok: false; problem: string } {
  if (!lastError) return { ok: true, stoppedBy: {} };
  let value: unknown;
  try {
    value = JSON.parse(lastError);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = StoppedBySchema.safeParse(value);
  if (parsed.success) return { ok: true, stoppedBy: parsed.data };
  return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`).join('; ') };
}
