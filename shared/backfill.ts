/**
 * Backfills: an explicit range of a source collected again (or for the first time) as its own
 * slices, at lower priority than live collection. A backfill never moves the live cursor.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Runtime } from './runtime';
import { lookupSource } from './http-api';
import { runStore } from './state/runs';
import { floorTo, SECOND } from './planning/windows';
import { recentDensity } from './planning/density';
import { admitRun, materialiseRun, runProgress, runSlices } from './backfill-runs';
import { clampToHistory, parseTimeSpec, resolveTimeSpec } from './time/expressions';

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
}

// Issue 15: a wrong type names the expected one (not zod's bare "Invalid input").
const TIME_EXPECTED = 'must be a time: an ISO-8601 string ("2026-11-01T00:00:00Z"), epoch seconds (a number), or a relative expression ("-7d", "-3h@h")';
const BackfillBody = z.object({
  source: z.string({ error: 'must be the source id (a string), the same as in the URL' }).optional(),
  start: z.union([z.string(), z.number()], { error: TIME_EXPECTED }),
  end: z.union([z.string(), z.number()], { error: TIME_EXPECTED }).optional(),
}).strict();

function badRequest(field: string, message: string): ApiResponse {
  return { status: 400, body: { error: 'BadRequest', field, message } };
}

export function newRunId(now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** What starting a backfill needs of the runtime. */
export type BackfillDeps = Pick<Runtime, 'config' | 'clock' | 'ledger' | 'queue' | 'log'>;

export async function startBackfill(rt: BackfillDeps, sourceId: string, body: unknown, statusUrl: (runId: string) => string): Promise<ApiResponse> {
  const { source, notFound } = lookupSource(rt.config, sourceId);
  if (notFound) return notFound;
  const parsed = BackfillBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? (issue as { keys?: string[] }).keys?.join(', ') ?? 'body' : 'body');
    const message = issue.code === 'unrecognized_keys'
      ? `unknown field(s) ${field}; the body is {"start": "<time>", "end": "<time>"} (times: ISO-8601, epoch seconds, or relative like -2d or -3h@h)`
      : `${issue.message}; the body is {"start": "<time>", "end": "<time>"}`;
    return badRequest(field, message);
  }
  if (parsed.data.source !== undefined && parsed.data.source !== sourceId) {
    return badRequest('source', `the body names source "${parsed.data.source}" but the URL names "${sourceId}"; drop the field or make them match`);
  }
  const now = rt.clock.now();
  let startMs: number;
  let endMs: number;
  try {
    startMs = resolveTimeSpec(parseTimeSpec(parsed.data.start, 'start'), now, 'start');
  } catch (err) {
    return badRequest('start', (err as Error).message);
  }
  try {
    endMs = parsed.data.end === undefined ? now - source.collectionDelayMs : resolveTimeSpec(parseTimeSpec(parsed.data.end, 'end'), now, 'end');
  } catch (err) {
    return badRequest('end', (err as Error).message);
  }
  const warnings: string[] = [];
  if (endMs > now) return badRequest('end', `end ${new Date(endMs).toISOString()} is in the future; the API only answers up to now`);
  // Issue 15: a range wholly outside the API's history is refused as such, not reported with a clamped start.
  const earliest = clampToHistory(0, now).ms;
  if (endMs <= earliest) return badRequest('end', `the range ${new Date(startMs).toISOString()} to ${new Date(endMs).toISOString()} is wholly older than the 90 days of history the message trace API keeps (nothing before ${new Date(earliest).toISOString()} can be collected); choose an end after that`);
  const clamped = clampToHistory(startMs, now);
  if (clamped.warning) warnings.push(clamped.warning);
  startMs = floorTo(clamped.ms + SECOND - 1, SECOND);
  endMs = floorTo(endMs, SECOND);
  if (endMs <= startMs) return badRequest('end', `end ${new Date(endMs).toISOString()} must be after start ${new Date(startMs).toISOString()}`);

  // One compare-and-swap decides: the overlap check and the admission are the same write.
  const runId = newRunId(now);
  const density = await recentDensity(rt.ledger, sourceId, now);
  const plan = { runId, startMs, endMs, createdAt: now, density: density ?? 0, sliceMs: source.sliceMs, pageSize: source.pageSize, slicesTotal: 0 };
  plan.slicesTotal = runSlices(plan).length;
  const admission = await admitRun(rt, sourceId, plan);
  if (!admission.admitted) {
    if (admission.reason === 'overlap') {
      const r = admission.run;
      return {
        status: 409,
        body: { error: 'Conflict', field: 'start', message: `the range overlaps backfill ${r.runId} (${new Date(r.startMs).toISOString()} to ${new Date(r.endMs).toISOString()}), which is still running; wait for it or choose a range that does not overlap`, runId: r.runId },
      };
    }
    if (admission.reason === 'full') {
      return {
        status: 429,
        body: { error: 'TooManyRequests', field: 'source', message: `source "${sourceId}" already has ${admission.active.length} backfills running, the most allowed at once (${admission.active.map((r) => r.runId).join(', ')}); wait for one to finish (GET its statusUrl) and try again`, runIds: admission.active.map((r) => r.runId) },
      };
    }
    return { status: 503, body: { error: 'Busy', field: 'source', message: `other backfill requests for source "${sourceId}" kept changing its run index; try again in a few seconds` } };
  }
  const slicesTotal = plan.slicesTotal;
  // Run row first, then slices, then jobs. If this request dies on the way, the planner's recovery
  // pass (resumeRuns) completes the run from what its index entry stores.
  await materialiseRun(rt, sourceId, plan);
  rt.log.log('info', `source ${sourceId}: backfill ${runId} started with ${slicesTotal} slice(s)`, { source: sourceId, runId });
  return {
    status: 202,
    body: {
      runId, source: sourceId, start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString(),
      slicesTotal, statusUrl: statusUrl(runId), ...(warnings.length ? { warnings } : {}),
    },
  };
}

export async function getBackfill(rt: Pick<Runtime, 'config' | 'ledger'>, sourceId: string, runId: string): Promise<ApiResponse> {
  const { notFound } = lookupSource(rt.config, sourceId);
  if (notFound) return notFound;
  const run = await runStore(rt.ledger).getRun(sourceId, runId);
  if (!run) return { status: 404, body: { error: 'NotFound', field: 'runId', message: `source "${sourceId}" has no backfill run "${runId}"` } };
  return { status: 200, body: { source: sourceId, ...(await runProgress(rt, run)) } };
}
