/**
 * Stage 6, continue: the source is collecting; enqueue the next page, or, after the last page,
 * move the completed watermark over contiguous done live slices (or the settled watermark after a
 * last-level re-read).
 */
import type { SourceConfig } from '../../components';
import type { HealthRow, Ledger, SliceRow } from '../../state/ledger';
import { liveSlicePrefixAt } from '../../state/ledger';
import { pageJob, type PageJob } from '../../queue/jobs';
import { setSourceState } from '../../health';
import { advanceSettled } from '../../settle/settled';
import { advanceWatermarkFrom } from '../../watermark';
import type { PageResultSummary, WorkerDeps } from '../deps';
import type { ObtainedPage } from './obtain';

export async function continueSlice(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, job: PageJob, page: ObtainedPage, health: HealthRow | undefined): Promise<PageResultSummary> {
  const { clock } = deps;
  const rows = { rowsFetched: page.content.fetched, rowsForwarded: page.content.events.length };
  // Never over an Error another instance wrote since this job read the health row (that would
  // silently resume a stopped source): the condition is checked inside the compare-and-swap.
  // lastSuccessAt rides on the watermark's health write when this page ends a live slice (issue 19).
  const successDue = health?.state === 'Collecting' && clock.now() - (health.lastSuccessAt || 0) >= 60_000;
  const advances = slice.state === 'done' && slice.kind === 'live';
  if (health?.state !== 'Collecting') await setSourceState(deps, source.id, 'Collecting', { configHash: deps.configHashOf(source), onlyFrom: ['Pending', 'Started', 'Initialized', 'Authenticated'] });
  else if (successDue && !advances) await deps.ledger.mergeHealth(source.id, { lastSuccessAt: clock.now() });
  if (slice.state !== 'done') {
    await deps.queue.send(pageJob(source.id, slice.id, job.page + 1));
    return { outcome: 'forwarded', ...rows };
  }
  if (slice.kind === 'live') {
    const completedUntil = await advanceWatermarkFrom(deps.ledger, source.id, health?.state === 'Collecting' ? health : undefined, successDue ? { lastSuccessAt: clock.now() } : {});
    if (completedUntil) deps.telemetry.gauge('lagSeconds', Math.max(0, Math.round((clock.now() - completedUntil) / 1000)), { source: source.id });
  }
  if (slice.kind === 'rescan' && slice.id.startsWith(`R${source.settleRereadsMs.length - 1}-`)) {
    await advanceSettled(deps.ledger, source, deps.seen);
  }
  return { outcome: 'slice-done', ...rows };
}

/** Moves completedUntil over contiguous done live slices. */
export async function advanceWatermark(ledger: Ledger, sourceId: string): Promise<number> {
  const health = await ledger.getHealth(sourceId);
  let current = health?.completedUntil ?? 0;
  if (!current) current = (await ledger.getCursor(sourceId))?.startMs ?? 0;
  if (!current) return 0;
  for await (const s of ledger.listSlices(sourceId, { fromRowKey: liveSlicePrefixAt(current), toRowKey: 'M' })) {
    if (s.kind !== 'live') continue;
    if (s.startMs !== current || s.state !== 'done') break;
    current = s.endMs;
  }
  return ledger.advanceWatermark(sourceId, current);
}
