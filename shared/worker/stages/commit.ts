/**
 * Stage 5, commit: every destination has the page. The seen-store learns its rows, the ledger
 * records the page (the claim's last write, releasing it), and page copies no longer pointed to
 * are deleted.
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
  // The seen-store learns this page's rows once every destination has them (a redo overwrites it).
  for (const w of content.seenWrites ?? []) {
    await deps.seen.write(source.id, w.bucket, `${claim.slice.id}-p${job.page}`, { keys: w.keys, fps: w.fps });
  }
  // Detail enrichment (issue 17): records and jobs of the qualifying rows, before the page is recorded.
  await admitDetails(deps, source, claim.slice, content.events);
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
  if (page.copy && committed.carryPage !== job.page) await deps.pages.delete(source.id, committed.id, job.page, page.copy).catch(() => undefined);
  if (previousCarry >= 0) await deps.pages.delete(source.id, committed.id, previousCarry).catch(() => undefined);
  return committed;
}
