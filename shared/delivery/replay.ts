/**
 * Replay of a destination (`POST /api/sources/{source}/destinations/{destination}/replay`): units it
 * refused permanently are tried again, a parked destination resumes (its kept backlog drains), and
 * the time ranges it missed while parked are re-collected for it alone: a backfill run whose slices
 * deliver to this destination only. Safe to repeat and to interrupt: the ranges move to
 * `replaying` in the same compare-and-swap that resumes the destination, and leave it only once
 * their run is admitted; the run id derives from that resume, so a repeated replay (or the
 * planner's sweep finishing an interrupted one) admits the same run, never a second.
 */
import { createHash } from 'node:crypto';
import type { SourceConfig } from '../components';
import { admitRun, materialiseRun, runSlices, type RunDeps } from '../backfill-runs';
import { recentDensity } from '../planning/density';
import { clampToHistory } from '../time/expressions';
import { floorTo, SECOND } from '../planning/windows';
import { deliveryJob } from '../queue/jobs';
import type { RunPlan } from '../state/runs';
import { replayAdmitted, resume, type BacklogStore, type DestinationProgress } from './progress';

export interface DestinationReplayDeps extends RunDeps {
  backlog: BacklogStore;
}

export interface DestinationReplay {
  source: string;
  destination: string;
  /** The destination was parked and is resumed. */
  resumed: boolean;
  /** Units parked on their own that wait again. */
  unitsReplayed: number;
  /** The re-collection of what it missed while parked (a backfill run for it alone), when there was any. */
  recollect?: { runId: string; start: string; end: string; slicesTotal: number };
  /** Why the re-collection waits (another backfill overlaps it); the planner's sweep tries again. */
  recollectWaits?: string;
}

export async function replayDestination(deps: DestinationReplayDeps, source: SourceConfig, destination: string): Promise<DestinationReplay> {
  const { backlog, clock } = deps;
  let unitsReplayed = 0;
  for await (const e of backlog.listEntries(source.id, destination)) {
    if (e.state !== 'parked') continue;
    if (await backlog.markEntry(source.id, destination, e, { state: 'waiting', lastError: '' })) unitsReplayed++;
  }
  let resumed = false;
  let p: DestinationProgress | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    p = await backlog.getProgress(source.id, destination);
    if (!p) break;
    let next: DestinationProgress | undefined;
    if (p.state === 'parked') next = resume(p, clock.now());
    // Units that waited on their own while the destination kept up: a drain must take them.
    else if (p.state === 'ok' && unitsReplayed > 0) next = { ...p, state: 'lagging', since: clock.now(), parkedEntries: 0 };
    else if (unitsReplayed > 0) next = { ...p, parkedEntries: 0 };
    if (!next) break;
    const written = await backlog.swapProgress(next);
    if (written) {
      resumed = p.state === 'parked';
      p = written;
      break;
    }
  }
  if (p && p.state === 'lagging') await deps.ledger.markBehind(source.id, destination, true);
  const out: DestinationReplay = { source: source.id, destination, resumed, unitsReplayed };
  if (p?.replaying.length) {
    const r = await admitReplay(deps, source, p);
    if ('runId' in r) out.recollect = r;
    else out.recollectWaits = r.waits;
  }
  if (p && p.state === 'lagging') await deps.queue.send(deliveryJob(source.id, destination));
  deps.log.log('info', `destination ${destination} of source ${source.id} replayed: ${resumed ? 'resumed, ' : ''}${unitsReplayed} parked unit(s) again${out.recollect ? `, re-collecting ${out.recollect.start} to ${out.recollect.end} for it alone (backfill ${out.recollect.runId})` : ''}`, { source: source.id, destination });
  return out;
}

/** The run id of a replay's re-collection: from the resume that started it (a repeat admits the same run). */
export function replayRunId(p: Pick<DestinationProgress, 'resumedAt' | 'destination'>): string {
  const stamp = new Date(p.resumedAt).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${stamp}-${createHash('sha256').update(p.destination).digest('hex').slice(0, 6)}`;
}

/**
 * Admits the re-collection of `replaying` as a backfill run for this destination alone, then empties
 * `replaying`. Returns the run, or why it waits (another run overlaps it: tried again later).
 */
export async function admitReplay(deps: DestinationReplayDeps, source: SourceConfig, p: DestinationProgress): Promise<{ runId: string; start: string; end: string; slicesTotal: number } | { waits: string }> {
  const now = deps.clock.now();
  const startMs = floorTo(clampToHistory(Math.min(...p.replaying.map((r) => r.startMs)), now).ms + SECOND - 1, SECOND);
  const endMs = Math.min(Math.max(...p.replaying.map((r) => r.endMs)), now);
  const runId = replayRunId(p);
  if (endMs > startMs) {
    const density = await recentDensity(deps.ledger, source.id, now);
    const plan: RunPlan = { runId, startMs, endMs, createdAt: p.resumedAt, density: density ?? 0, sliceMs: source.sliceMs, pageSize: source.pageSize, slicesTotal: 0, destinations: [p.destination] };
    plan.slicesTotal = runSlices(plan).length;
    const admission = await admitRun(deps, source.id, plan);
    const already = !admission.admitted && admission.reason === 'overlap' && admission.run.runId === runId;
    if (!admission.admitted && !already) {
      const waits = admission.reason === 'overlap'
        ? `backfill ${admission.run.runId} overlaps ${new Date(startMs).toISOString()} to ${new Date(endMs).toISOString()}; the re-collection starts when it ends`
        : admission.reason === 'full' ? 'the source has the most backfills running at once; the re-collection starts when one ends' : 'the run index was busy; the re-collection is tried again';
      deps.log.log('warn', `destination ${p.destination} of source ${source.id}: ${waits}`, { source: source.id, destination: p.destination });
      return { waits };
    }
    await materialiseRun(deps, source.id, plan);
    await clearReplaying(deps, p);
    return { runId, start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString(), slicesTotal: plan.slicesTotal };
  }
  await clearReplaying(deps, p);
  return { runId, start: new Date(startMs).toISOString(), end: new Date(startMs).toISOString(), slicesTotal: 0 };
}

async function clearReplaying(deps: DestinationReplayDeps, p: DestinationProgress): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const cur = attempt === 0 ? p : await deps.backlog.getProgress(p.sourceId, p.destination);
    if (!cur || cur.resumedAt !== p.resumedAt || !cur.replaying.length) return;
    if (await deps.backlog.swapProgress(replayAdmitted(cur, { resumedAt: p.resumedAt }))) return;
  }
}
