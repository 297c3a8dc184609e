/**
 * `mtc backfill` and `mtc status`: talk to a running host (the local one of `mtc start`, or the
 * function app in Azure) over its HTTP API (docs/api.md), with the function key in
 * `x-functions-key`. Nothing here reads storage directly: what they show is what the API says.
 */
import { UsageError, type Io } from './io';

export interface HostTarget { url?: string; key?: string }

function base(t: HostTarget): string {
  const url = (t.url ?? 'http://127.0.0.1:7071/api').replace(/\/+$/, '');
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new UsageError(`--url must be the host's API base URL such as http://127.0.0.1:7071/api or https://<app>.azurewebsites.net/api, got "${url}"`);
  }
  return url;
}

/** One API call; a refused connection or a 401 becomes a message that says what to do. */
async function call(t: HostTarget, method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const url = `${base(t)}/${route}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (t.key) headers['x-functions-key'] = t.key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`no answer from ${url} (${cause?.code ?? cause?.message ?? (err as Error).message}); is the host running? Start one with "mtc start", or pass --url of the function app (https://<app>.azurewebsites.net/api)`, { cause: err });
  }
  const text = await res.text();
  let json: unknown = text;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  if (res.status === 401) {
    throw new Error(`${url} answered 401: ${t.key ? 'the function key was refused' : 'it needs the function key'}; pass --key (or MTC_FUNCTION_KEY): "mtc start" prints it, in Azure: az functionapp keys list -g <rg> -n <app>`);
  }
  return { status: res.status, json };
}

function describeApiError(status: number, json: unknown): string {
  const j = json as { message?: string; field?: string; error?: string } | undefined;
  return `HTTP ${status}${j?.error ? ` ${j.error}` : ''}${j?.field ? ` (${j.field})` : ''}: ${j?.message ?? JSON.stringify(json)}`;
}

export interface BackfillArgs extends HostTarget { source: string; start?: string; end?: string; run?: string; wait?: boolean }

interface RunProgressBody { runId: string; state: string; done?: number; parked?: number; slicesTotal?: number; rows?: number; requests?: number; start?: string; end?: string; warning?: string; warnings?: string[] }

function progressLine(r: RunProgressBody): string {
  return `run ${r.runId}: ${r.state}, slices ${r.done ?? 0}/${r.slicesTotal ?? '?'} done, ${r.parked ?? 0} parked, rows ${r.rows ?? 0}, requests ${r.requests ?? 0}`;
}

export async function backfillCommand(a: BackfillArgs, io: Io, opts: { pollMs?: number } = {}): Promise<number> {
  const src = encodeURIComponent(a.source);
  let runId = a.run;
  if (!runId) {
    if (!a.start) throw new UsageError('--start is needed to start a backfill (or --run <runId> to show one); e.g. --start -7d@d');
    const r = await call(a, 'POST', `sources/${src}/backfill`, { start: a.start, ...(a.end ? { end: a.end } : {}) });
    if (r.status !== 202) {
      io.err(`mtc backfill: ${describeApiError(r.status, r.json)}`);
      return r.status === 400 || r.status === 404 ? 2 : 1;
    }
    const b = r.json as RunProgressBody;
    runId = b.runId;
    io.out(`backfill started: run ${b.runId}, ${b.start} to ${b.end}, ${b.slicesTotal ?? '?'} slices`);
    for (const w of [b.warning, ...(b.warnings ?? [])].filter(Boolean)) io.out(`  warning: ${String(w)}`);
    if (!a.wait) return 0;
  }
  for (;;) {
    const r = await call(a, 'GET', `sources/${src}/backfill/${encodeURIComponent(runId)}`);
    if (r.status !== 200) {
      io.err(`mtc backfill: ${describeApiError(r.status, r.json)}`);
      return r.status === 404 ? 2 : 1;
    }
    const p = r.json as RunProgressBody;
    io.out(progressLine(p));
    if (!a.wait || p.state !== 'running') return (p.parked ?? 0) > 0 ? 1 : 0;
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 5_000));
  }
}

export interface StatusArgs extends HostTarget { source?: string; json?: boolean }

interface StatusBody { id: string; state: string; lagSeconds?: number; completedUntil?: string; slices?: { parked?: number; done?: number; rows?: number }; lastError?: { code?: string; message?: string; fix?: string } }

export async function statusCommand(a: StatusArgs, io: Io): Promise<number> {
  const r = await call(a, 'GET', a.source ? `status/${encodeURIComponent(a.source)}` : 'status');
  if (r.status !== 200) {
    io.err(`mtc status: ${describeApiError(r.status, r.json)}`);
    return r.status === 404 ? 2 : 1;
  }
  if (a.json) io.out(JSON.stringify(r.json, null, 2));
  const list: StatusBody[] = a.source ? [r.json as StatusBody] : ((r.json as { sources?: StatusBody[] }).sources ?? []);
  let healthy = true;
  for (const s of list) {
    const parked = s.slices?.parked ?? 0;
    if (s.state !== 'Collecting' || parked > 0) healthy = false;
    if (a.json) continue;
    io.out(`source ${s.id}: ${s.state}${s.lagSeconds !== undefined ? `, lag ${s.lagSeconds} s` : ''}${s.completedUntil ? `, complete until ${s.completedUntil}` : ''}, slices done ${s.slices?.done ?? 0}, parked ${parked}, rows ${s.slices?.rows ?? 0}`);
    if (s.lastError && (s.state !== 'Collecting' || parked > 0)) {
      io.out(`  last error${s.lastError.code ? ` [${s.lastError.code}]` : ''}: ${s.lastError.message ?? ''}`);
      if (s.lastError.fix) io.out(`  fix: ${s.lastError.fix}`);
    }
  }
  return healthy ? 0 : 1;
}
