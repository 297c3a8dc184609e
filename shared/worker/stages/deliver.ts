/**
 * Stage 4, deliver: the page's events to every destination of the source that lacks them; a
 * failing destination is retried alone (the others' marks are final for this page).
 */
import type { SourceConfig } from '../../components';
import { CollectorError, asCollectorError } from '../../errors';
import type { TraceEvent } from '../../model/row';
import type { DestinationMark } from '../../state/ledger';
import { markDelivered, markProgress } from '../../state/slice-machine';
import type { PageJob } from '../../queue/jobs';
import { errorTags } from '../../telemetry';
import type { PageResultSummary, WorkerDeps } from '../deps';
import type { HeldClaim } from './claim';
import type { ObtainedPage } from './obtain';
import { failDelivery } from './retry-or-park';
import type { JobTimer } from './job-timeout';

/** Delivers the page; undefined when every destination has it, else the outcome of the failure. */
export async function deliverPage(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, page: ObtainedPage, timer?: JobTimer): Promise<PageResultSummary | undefined> {
  const failures = await deliver(deps, source, claim, job, page.content.events, timer);
  if (!failures.length) return undefined;
  const held = await claim.finish();
  if (!held) return { outcome: 'claimed-elsewhere' };
  return failDelivery(deps, source, held, job, failures, page.requests);
}

/**
 * Sends the page's events to every destination of the source that lacks them, resuming a partial
 * delivery at the index its mark records (the page copy is immutable, so the index is exact).
 * Returns the destinations that failed; the others' marks are final for this page.
 */
async function deliver(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, events: TraceEvent[], timer?: JobTimer): Promise<{ destination: string; error: CollectorError }[]> {
  const fields = { source: source.id, slice: claim.slice.id, page: job.page };
  const failures: { destination: string; error: CollectorError }[] = [];
  for (const destId of source.destinations) {
    const destination = deps.destinations.get(destId);
    if (!destination) continue;
    const mark: DestinationMark = claim.slice.marks[destId] ?? { pagesDone: 0, rows: 0 };
    if (mark.pagesDone > job.page) continue;
    let from = 0;
    if (mark.pagesDone === job.page && mark.partialCount !== undefined) from = Math.min(mark.partialCount, events.length);
    else if (mark.pagesDone === job.page && mark.partialKey) {
      // A mark written by an earlier version (the last event id delivered).
      const idx = events.findIndex((e) => e.eventId === mark.partialKey);
      if (idx >= 0) from = idx + 1;
      else deps.log.log('warn', 'partial delivery mark not found in the page; sending the whole page again', { ...fields, destination: destId });
    }
    const pending = events.slice(from);
    try {
      // The job's time is up (jobTimeout): this destination is retried with the page, not tried now.
      const expired = timer?.expired();
      if (expired) throw expired;
      if (pending.length) {
        let already = 0, alreadyBytes = 0;
        await destination.send(pending, {
          sourceId: source.id, sliceId: claim.slice.id, page: job.page,
          ...(timer ? { signal: timer.signal } : {}),
          onProgress: async (deliveredSoFar, bytesSoFar) => {
            const delivered = deliveredSoFar - already;
            already = deliveredSoFar;
            if (bytesSoFar !== undefined) {
              deps.telemetry.count('bytesSent', bytesSoFar - alreadyBytes, { source: source.id, destination: destId });
              alreadyBytes = bytesSoFar;
            }
            await claim.update((s) => markProgress(s, { destination: destId, page: job.page, delivered, partialCount: from + deliveredSoFar }));
            deps.telemetry.count('rowsForwarded', delivered, { source: source.id, destination: destId });
          },
        });
      }
      claim.patchLocal((s) => markDelivered(s, { destination: destId, page: job.page }));
    } catch (err) {
      const raw = asCollectorError(err);
      if (raw.code === 'ClaimLost') throw raw;
      const e = timer?.expired() ?? raw;
      const error = e.type === 'FirstPartyGeneric' ? e : new CollectorError('FirstPartyGeneric', e.message, { code: e.code, retryable: e.retryable, ...(e.statusCode ? { statusCode: e.statusCode } : {}), ...(e.fix ? { fix: e.fix } : {}) });
      failures.push({ destination: destId, error });
      deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'sending', error, destination: destId }));
      deps.log.log('warn', `destination ${destId} failed: ${error.message}`, { ...fields, destination: destId, errorType: error.type, code: error.code });
    }
  }
  return failures;
}
