/**
 * Stage 5, commit: every destination has the page. The ledger records the page (the claim's last
 * write, releasing it), and page copies no longer pointed to are deleted.
 *
 * What the page teaches the collector besides (learnPage: the seen-store's rows, the detail
 * records) is written before the page is delivered, not between its delivery and this commit:
 * then the last destination's last acknowledged batch is recorded by the commit itself, one write
 * after the acknowledgement as a separate progress mark would be (deliver.ts), and a page costs
 * one slice write less (issue 19). Both are idempotent, and a page that gets that far has its copy
 * (obtain.ts), so a retry delivers the same events and learns the same rows again.
 */
import type { SourceConfig } from '../../components';
import type { SliceRow } from '../../state/ledger';
import { recordPage } from '../../state/slice-machine';
import type { PageJob } from '../../queue/jobs';
import type { WorkerDeps } from '../deps';
import type { HeldClaim } from './claim';
import type { ObtainedPage } from './obtain';
import { admitDetails } from '../../details/admission';

/** The slice row with the page recorded, or undefined when the claim was lost first. */
export async function commitPage(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, page: ObtainedPage): Promise<SliceRow | undefined> {
  const { content } = page;
  const previousCarry = claim.slice.carryPage;
  const committed = await claim.commit((s) => recordPage(s, {
    page: job.page, nextLink: content.nextLink, boundaryKeys: content.boundaryKeys, oldestMs: content.oldestMs,
    rows: content.events.length, requests: page.requests,
  }, deps.clock.now()));
  if (!committed) {
    deps.log.log('error', 'lost the claim before recording the page; another worker will redo it from the page copy', { source: source.id, slice: claim.slice.id, page: job.page });
    return undefined;
  }
  // The row points to this page's copy when the continuation did not fit inline (carryPage).
  if (page.copy && !page.copy.inline && committed.carryPage !== job.page) await deps.pages.delete(source.id, committed.id, job.page, page.copy).catch(() => undefined);
  if (previousCarry >= 0) await deps.pages.delete(source.id, committed.id, previousCarry).catch(() => undefined);
  return committed;
}

/**
 * Before the page is delivered: the seen-store learns its rows (a redo overwrites them), and its
 * qualifying rows get their detail records and jobs (issue 17; a repeat makes no second record,
 * and a detail job waits DETAIL_START_DELAY_MS before it asks the budget).
 */
export async function learnPage(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, page: ObtainedPage): Promise<void> {
  for (const w of page.content.seenWrites ?? []) {
    await deps.seen.write(source.id, w.bucket, `${claim.slice.id}-p${job.page}`, { keys: w.keys, fps: w.fps });
  }
  await admitDetails(deps, source, claim.slice, page.content.events);
}
