/**
 * Backfills: an explicit range of a source collected again (or for the first time) as its own
 * slices, at lower priority than live collection. A backfill never moves the live cursor.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { SourceConfig } from './config/types';
import type { Runtime } from './runtime';
import { backfillSliceId, newSlice, type RunRow } from './state/ledger';
import { floorTo, SECOND } from './planning/windows';
import { cutRange, recentDensity } from './planning/density';
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

export async function startBackfill(rt: Runtime, sourceId: string, body: unknown, statusUrl: (runId: string) => string): Promise<ApiResponse> {
  const source = rt.config.sources.find((s) => s.id === sourceId);
  if (!source) {
    return { status: 404, body: { error: 'NotFound', field: 'source', message: `no source "${sourceId}" is configured; configured sources: ${rt.config.sources.map((s) => s.id).join(', ') || '(none)'}` } };
  }
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
    startMs = resolveTimeSpec(parseTimeSpec(parsed.data.start, 'start'), now);
  } catch (err) {
    return badRequest('start', (err as Error).message);
  }
  try {
    endMs = parsed.data.end === undefined ? now - source.collectionDelayMs : resolveTimeSpec(parseTimeSpec(parsed.data.end, 'end'), now);
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

  const runs = await rt.ledger.listRuns(sourceId);
  for (const r of runs) {
    if (r.state !== 'running') continue;
    const progress = await runProgress(rt, r);
    if (progress.done + progress.parked >= progress.slicesTotal) {
      await rt.ledger.setRunState(r, 'done');
      continue;
    }
    if (r.startMs < endMs && startMs < r.endMs) {
      return {
        status: 409,
        body: { error: 'Conflict', field: 'start', message: `the range overlaps backfill ${r.runId} (${new Date(r.startMs).toISOString()} to ${new Date(r.endMs).toISOString()}), which is still running; wait for it or choose a range that does not overlap`, runId: r.runId },
      };
    }
  }

  const runId = newRunId(now);
  const slices = cutRange({ startMs, endMs }, { density: await recentDensity(rt.ledger, sourceId, now), sliceMs: source.sliceMs, pageSize: source.pageSize });
  for (const s of slices) {
    await rt.ledger.createSlice(newSlice({ sourceId, id: backfillSliceId(runId, s.startMs, s.endMs), kind: 'backfill', runId, startMs: s.startMs, endMs: s.endMs }, now));
  }
  await rt.ledger.createRun({ sourceId, runId, startMs, endMs, state: 'running', slicesTotal: slices.length, createdAt: now });
  for (const s of slices) {
    await rt.queue.send({ v: 1, sourceId, sliceId: backfillSliceId(runId, s.startMs, s.endMs), page: 0, attempt: 0 });
  }
  rt.log.log('info', `source ${sourceId}: backfill ${runId} started with ${slices.length} slice(s)`, { source: sourceId, runId });
  return {
    status: 202,
    body: {
      runId, source: sourceId, start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString(),
      slicesTotal: slices.length, statusUrl: statusUrl(runId), ...(warnings.length ? { warnings } : {}),
    },
  };
}

export interface RunProgress {
  runId: string;
  state: 'running' | 'done';
  start: string;
  end: string;
  slicesTotal: number;
  done: number;
  parked: number;
  rows: number;
  requests: number;
  createdAt: string;
}

export async function runProgress(rt: Runtime, run: RunRow): Promise<RunProgress> {
  let done = 0, parked = 0, rows = 0, requests = 0;
  for await (const s of rt.ledger.listSlices(run.sourceId, { fromRowKey: `B-${run.runId}-`, toRowKey: `B-${run.runId}.` })) {
    if (s.state === 'done') done++;
    if (s.state === 'parked') parked++;
    rows += s.rows;
    requests += s.requests;
  }
  const finished = done + parked >= run.slicesTotal;
  return {
    runId: run.runId, state: finished ? 'done' : 'running', start: new Date(run.startMs).toISOString(), end: new Date(run.endMs).toISOString(),
    slicesTotal: run.slicesTotal, done, parked, rows, requests, createdAt: new Date(run.createdAt).toISOString(),
  };
}

export async function getBackfill(rt: Runtime, source: SourceConfig | undefined, sourceId: string, runId: string): Promise<ApiResponse> {
  if (!source) return { status: 404, body: { error: 'NotFound', field: 'source', message: `no source "${sourceId}" is configured` } };
  const run = await rt.ledger.getRun(sourceId, runId);
  if (!run) return { status: 404, body: { error: 'NotFound', field: 'runId', message: `source "${sourceId}" has no backfill run "${runId}"` } };
  return { status: 200, body: { source: sourceId, ...(await runProgress(rt, run)) } };
}
