/**
 * Stage 4, deliver: the page's events to every destination of the source that lacks them, all at
 * once and each on its own (ARCHITECTURE invariant 11). A destination that fails, or is already
 * behind, gets the page in its backlog (shared/delivery) and the slice goes on: no destination
 * waits for another, not even for one page. Only the collector's own failure (storage, a lost
 * claim) fails the job.
 */
import type { SourceConfig } from '../../components';
import { asCollectorError } from '../../errors';
import type { TraceEvent } from '../../model/row';
import type { DestinationMark, HealthRow, SliceRow } from '../../state/ledger';
import { markDelivered, markHandedOff, markProgress } from '../../state/slice-machine';
import type { PageJob } from '../../queue/jobs';
import { errorTags } from '../../telemetry';
import { pageUnit } from '../../delivery/progress';
import { alreadyHandedOff, handOff } from '../../delivery/hand-off';
import type { WorkerDeps } from '../deps';
import type { HeldClaim } from './claim';
import type { ObtainedPage } from './obtain';
import type { JobTimer } from './job-timeout';

/**
 * Delivers the page: afterwards every destination has it, or has it in its backlog. Throws only
 * for the collector's own failures (storage, a lost claim), which the worker retries.
 */
export async function deliverPage(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, page: ObtainedPage, health: Pick<HealthRow, 'behind'> | undefined, timer?: JobTimer): Promise<void> {
  const events = page.content.events;
  // A slice for some destinations only (a parked destination's replay) delivers to those alone.
  const only = claim.slice.only;
  const targets = only.length ? source.destinations.filter((d) => only.includes(d)) : source.destinations;
  const behind = new Set(health?.behind ?? []);
  const sending: Sending = { open: targets.length };
  const results = await Promise.allSettled(targets.map((destId) => deliverTo(deps, source, claim, job, events, destId, behind.has(destId), sending, timer).finally(() => { sending.open--; })));
  // A lost claim first: the page is another worker's now (it resumes from the page copy).
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  const lost = failed.find((e) => asCollectorError(e).code === 'ClaimLost');
  if (lost !== undefined) throw lost;
  if (failed.length) throw failed[0];
}

/** How many of the page's destinations are still being delivered to. */
interface Sending {
  open: number;
}

async function deliverTo(deps: WorkerDeps, source: SourceConfig, claim: HeldClaim, job: PageJob, events: TraceEvent[], destId: string, behind: boolean, sending: Sending, timer?: JobTimer): Promise<void> {
  const destination = deps.destinations.get(destId);
  if (!destination) return;
  const fields = { source: source.id, slice: claim.slice.id, page: job.page, destination: destId };
  const mark: DestinationMark = claim.slice.marks[destId] ?? { pagesDone: 0, rows: 0 };
  if (mark.pagesDone > job.page) return;
  const unit = pageUnit(claim.slice.id, job.page);
  const range = { startMs: claim.slice.startMs, endMs: claim.slice.endMs };
  // An earlier attempt (killed, or its claim taken over) may have handed the page off already: the
  // backlog owns it then, and sending it here too would deliver it twice.
  if (claim.slice.attempts > 1 && await alreadyHandedOff(deps, source, destId, { unit, events: events.slice(Math.min(mark.pagesDone === job.page ? mark.partialCount ?? 0 : 0, events.length)), ...range, hinted: behind })) {
    claim.patchLocal((s) => markHandedOff(s, { destination: destId, page: job.page }));
    return;
  }
  let from = 0;
  if (mark.pagesDone === job.page && mark.partialCount !== undefined) from = Math.min(mark.partialCount, events.length);
  else if (mark.pagesDone === job.page && mark.partialKey) {
    // A mark written by an earlier version (the last event id delivered).
    const idx = events.findIndex((e) => e.eventId === mark.partialKey);
    if (idx >= 0) from = idx + 1;
    else deps.log.log('warn', 'partial delivery mark not found in the page; sending the whole page again', fields);
  }
  if (from >= events.length) {
    claim.patchLocal((s) => markDelivered(s, { destination: destId, page: job.page }));
    return;
  }
  // Behind already (or parked), as the health row read by this job says: the page joins its
  // backlog without a direct attempt, in order.
  if (behind) {
    await handOff(deps, source, destId, { unit, events: events.slice(from), ...range, hinted: true });
    claim.patchLocal((s) => markHandedOff(s, { destination: destId, page: job.page }));
    return;
  }
  // Events of the page the destination acknowledged (a mark kept in memory may not be applied yet).
  let acknowledged = from;
  try {
    // The job's time is up (jobTimeout): this destination gets the page in its backlog.
    const expired = timer?.expired();
    if (expired) throw expired;
    let already = 0, alreadyBytes = 0;
    await destination.send(events.slice(from), {
      sourceId: source.id, sliceId: claim.slice.id, page: job.page,
      ...(timer ? { signal: timer.signal } : {}),
      onProgress: async (deliveredSoFar, bytesSoFar) => {
        const delivered = deliveredSoFar - already;
        already = deliveredSoFar;
        acknowledged = from + deliveredSoFar;
        if (bytesSoFar !== undefined) {
          deps.telemetry.count('bytesSent', bytesSoFar - alreadyBytes, { source: source.id, destination: destId });
          alreadyBytes = bytesSoFar;
        }
        const progress = (s: SliceRow) => markProgress(s, { destination: destId, page: job.page, delivered, partialCount: from + deliveredSoFar });
        // The page's last batch to the last destination still sending: nothing but the commit
        // comes after it (commit.ts), so the commit records it, one write after the
        // acknowledgement as this mark would be. Any earlier batch, or one while another
        // destination still sends (it may take long), is recorded at once (invariant 2).
        if (from + deliveredSoFar >= events.length && sending.open === 1) claim.patchLocal(progress);
        else await claim.update(progress);
        deps.telemetry.count('rowsForwarded', delivered, { source: source.id, destination: destId });
      },
    });
    claim.patchLocal((s) => markDelivered(s, { destination: destId, page: job.page }));
  } catch (err) {
    const raw = asCollectorError(err);
    if (raw.code === 'ClaimLost') throw raw;
    const error = timer?.expired() ?? raw;
    deps.telemetry.count('errors', 1, errorTags({ source: source.id, stage: 'sending', error, destination: destId }));
    // What the destination acknowledged of this attempt stays acknowledged: the rest waits for it.
    const acked = Math.min(events.length, acknowledged);
    deps.log.log('warn', `destination ${destId} failed (${error.message}); page ${job.page} of ${claim.slice.id} goes to its backlog, the other destinations go on`, { ...fields, errorType: error.type, code: error.code });
    await handOff(deps, source, destId, { unit, events: events.slice(acked), ...range, lastError: JSON.stringify(error.toHealth()) });
    claim.patchLocal((s) => markHandedOff(s, { destination: destId, page: job.page }));
  }
}
