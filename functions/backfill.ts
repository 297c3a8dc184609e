/** HTTP: POST starts a backfill of a source (in a span, so its page jobs start one trace); GET on a run returns its progress. */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpTrigger } from '../shared/http-api';
import { getRuntime } from '../shared/runtime';
import { getBackfill, startBackfill } from '../shared/backfill';
import { readJsonBody } from '../shared/http-body';
import { SPANS, withSpan } from '../shared/telemetry';

export async function backfill(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const rt = await getRuntime();
  const sourceId = request.params.source ?? '';
  const runId = request.params.runId;
  if (request.method === 'GET') {
    if (!runId) return { status: 400, jsonBody: { error: 'BadRequest', field: 'runId', message: 'GET needs a run id: /api/sources/<source>/backfill/<runId>' } };
    const r = await getBackfill(rt, sourceId, runId);
    return { status: r.status, jsonBody: r.body };
  }
  if (runId) return { status: 405, jsonBody: { error: 'MethodNotAllowed', message: 'POST to /api/sources/<source>/backfill (without a run id) to start a backfill' } };
  const body = await readJsonBody(request);
  if (!body.ok) return { status: body.response.status, jsonBody: body.response.body };
  const base = new URL(request.url);
  const r = await withSpan(SPANS.backfill, { invocation: context.traceContext?.traceParent, attributes: { 'mtc.source': sourceId } }, async (span) => {
    const started = await startBackfill(rt, sourceId, body.value, (id) => `${base.origin}/api/sources/${encodeURIComponent(sourceId)}/backfill/${encodeURIComponent(id)}`);
    span.setAttribute('http.response.status_code', started.status);
    return started;
  });
  return { status: r.status, jsonBody: r.body, ...(r.status === 202 ? { headers: { location: String(r.body.statusUrl) } } : {}) };
}

app.http('backfill', { ...httpTrigger('backfill'), handler: backfill });
