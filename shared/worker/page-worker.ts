/**
 * The page worker: one queue message = one page of one slice, as six stages (shared/worker/stages):
 *
 *   guard   → is the job due, its page current and unclaimed, its source not stopped? (A first
 *             page job its planner just created the row for claims it on that row's ETag, unread.)
 *   claim   → take the page in the ledger (compare-and-swap) and hold it (heartbeat)
 *   obtain  → the page's persisted copy, else one API request within the tenant budget; the
 *             seen-store and detail admission learn its rows (learnPage)
 *   deliver → to every destination not yet marked for this page, at once; one that fails or is
 *             behind gets the page in its backlog (shared/delivery) and the slice goes on
 *   commit  → record the page done (the claim's last write)
 *   continue→ enqueue the next page, or move the watermark after the last one
 *
 * Delivered twice, a job is forwarded once: the page number in the ledger and the claim make every
 * duplicate a no-op. A fetched page is persisted before its first send (shared/worker/page-store),
 * and every retry or resume delivers that copy, never a new fetch (invariant 8). Per-destination
 * marks (pages done, and an index into the page copy within a page) and per-destination backlogs
 * make destinations independent (invariant 11): a failing one never holds the slice back. A corrupt continuation is healed by re-querying the rest of the slice. Failures
 * past the retry horizon park the slice; ThirdPartyConfig stops the source. Every change of the
 * slice row is a named transition of the slice state machine (shared/state/slice-machine).
 */
import { withoutCreated, type PageJob } from '../queue/jobs';
import type { MessageMeta, PageResultSummary, WorkerDeps } from './deps';
import { guard } from './stages/guard';
import { claimPage } from './stages/claim';
import { obtainPage } from './stages/obtain';
import { deliverPage } from './stages/deliver';
import { commitPage, learnPage } from './stages/commit';
import { continueSlice } from './stages/continue';
import { failWhileClaimed } from './stages/retry-or-park';
import { startJobTimer } from './stages/job-timeout';

export type { BudgetGate, MessageMeta, PageOutcome, PageResultSummary, Priority, SourceClients, WorkerDeps } from './deps';
export { priorityOf } from './deps';
export { CLAIM_TTL_MS } from './stages/claim';
export { DEFAULT_JOB_TIMEOUT_MS } from './stages/job-timeout';
export { advanceWatermark } from './stages/continue';
export { boundaryHash } from './stages/build-page';
export { MAX_INLINE_BOUNDARY_CHARS, MAX_INLINE_NEXTLINK } from '../state/slice-machine';

export async function processPageJob(deps: WorkerDeps, job: PageJob, meta: MessageMeta): Promise<PageResultSummary> {
  let admitted = await guard(deps, job, meta);
  if ('outcome' in admitted) return admitted;
  let claim = await claimPage(deps, admitted.slice, meta.messageId);
  if (!claim && admitted.assumed) {
    // The row the planner created changed before this first claim: read it and judge again.
    admitted = await guard(deps, withoutCreated(job), meta);
    if ('outcome' in admitted) return admitted;
    claim = await claimPage(deps, admitted.slice, meta.messageId);
  }
  if (!claim) return { outcome: 'claimed-elsewhere' };
  const { source, slice, health } = admitted;
  const timer = startJobTimer(deps.clock, source, `page ${job.page} of slice ${slice.id}`);
  let page, recorded;
  try {
    page = await obtainPage(deps, source, claim, job, slice.attempts, timer);
    if ('outcome' in page) return page;
    await learnPage(deps, source, claim, job, page);
    await deliverPage(deps, source, claim, job, page, health, timer);
    recorded = await commitPage(deps, source, claim, job, page);
    if (!recorded) return { outcome: 'claimed-elsewhere' };
  } catch (err) {
    return await failWhileClaimed(deps, source, claim, job, timer.expired() ?? err);
  } finally {
    timer.stop();
    claim.stop();
  }
  // The page is recorded and the claim released: a failure from here on goes back to the host,
  // whose redelivery restores the continuation (guard).
  return continueSlice(deps, source, recorded, job, page, health);
}
