/**
 * Stage 3, obtain the page: its persisted copy when an earlier attempt got as far as persisting it
 * (a destination may have acknowledged part of it: never fetch it again, invariant 8), else one
 * request to the API within the tenant budget, kept as the slice keeps it and persisted before its
 * first send.
 */
import type { SourceConfig } from '../../components';
import { asCollectorError, firstPartyGeneric } from '../../errors';
import type { PageResult } from '../../api/client';
import type { SliceRow } from '../../state/ledger';
import { fitsInline, keepCopy, MAX_INLINE_COPY_CHARS } from '../../state/slice-machine';
import { withoutCreated, type PageJob } from '../../queue/jobs';
import { encodeInlineCopy, inlineCopyOf, type PageCopy, type StoredPage } from '../page-store';
import { priorityOf, type PageContent, type PageResultSummary, type WorkerDeps } from '../deps';
import type { HeldClaim } from './claim';
import { buildContent } from './build-page';
import { fetchWithTokenRenewal, requestFor } from './fetch';
import { handleFetchFailure } from './retry-or-park';
import type { JobTimer } from './job-timeout';

export interface ObtainedPage {
  content: PageContent;
  /** The page copy, when there is one (to delete once the page is recorded). */
  copy?: PageCopy;
  /** API requests this attempt made. */
  requests: number;
}

/** The page to deliver, or the outcome that ends the job (a budget wait, a failed request). */
export async function obtainPage(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, earlierAttempts: number, timer?: JobTimer): Promise<ObtainedPage | PageResultSummary> {
  const slice = claim.slice;
  // A copy in the row is the page (an earlier attempt fetched it): never fetch it again.
  const kept = inlineCopyOf(slice, job.page);
  if (kept) return { content: kept.data, copy: kept, requests: 0 };
  const carried = await readCarried(deps, source, slice);
  if (earlierAttempts > 0 || hasPartialMark(slice, job.page)) {
    const stored = await deps.pages.read(source.id, slice.id, job.page);
    if (stored) return { content: stored.data, copy: stored, requests: 0 };
  }
  if (deps.budget) {
    const grant = await deps.budget.acquire(source.tenantId, priorityOf(slice), `${slice.id}#${job.page}`);
    if (!grant.granted) {
      const released = await claim.release();
      if (released) await deps.queue.send(withoutCreated(job), { delayMs: grant.waitMs });
      return { outcome: 'deferred' };
    }
  }
  const clients = deps.clientsFor(source);
  let requests = 0;
  let result: PageResult;
  try {
    result = await fetchWithTokenRenewal(deps, clients, requestFor(slice, source, carried), source, slice, () => requests++, timer?.signal);
  } catch (err) {
    const error = timer?.expired() ?? asCollectorError(err);
    const held = await claim.finish();
    if (!held) return { outcome: 'claimed-elsewhere', error };
    return handleFetchFailure(deps, source, held, job, error, requests, carried);
  }
  const built = await buildContent(deps, source, slice, result, clients.api.api, carried?.boundaryKeys ?? slice.boundaryKeys);
  if (built.events.length === 0 && fitsInline(built)) return { content: built, requests };
  const data: StoredPage = { v: 2, page: job.page, ...built };
  if (fitsInline(built)) {
    // A small copy rides in the slice row (one claim write, no page-store create and delete); a
    // lost claim throws here, before anything is sent.
    const text = encodeInlineCopy(data);
    if (text.length <= Math.min(deps.inlineCopyMaxChars ?? MAX_INLINE_COPY_CHARS, MAX_INLINE_COPY_CHARS)) {
      await claim.update((s) => keepCopy(s, { page: job.page, copy: text }));
      return { content: data, copy: { data, inline: true }, requests };
    }
  }
  const copy = await deps.pages.persist(source.id, slice.id, data);
  return { content: copy.data, copy, requests };
}

/** The page copy that holds the slice's continuation when it was too large for the row. */
async function readCarried(deps: WorkerDeps, source: SourceConfig, slice: SliceRow): Promise<PageCopy['data'] | undefined> {
  if (slice.carryPage < 0) return undefined;
  const carried = (await deps.pages.read(source.id, slice.id, slice.carryPage))?.data;
  if (!carried) throw firstPartyGeneric(`the copy of page ${slice.carryPage} that holds this slice's continuation is missing`, { code: 'CarryMissing', retryable: false });
  return carried;
}

function hasPartialMark(slice: SliceRow, page: number): boolean {
  return Object.values(slice.marks).some((m) => m.pagesDone > page || (m.pagesDone === page && (m.partialCount !== undefined || m.partialKey !== undefined)));
}
