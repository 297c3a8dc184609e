/**
 * HTTP: replay parked slices and parked detail records of a source (all, or {"sliceIds": [...]}
 * and/or {"detailRecords": [...]}) and resume a stopped source.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpTrigger, lookupSource } from '../shared/http-api';
import { z } from 'zod';
import { getRuntime } from '../shared/runtime';
import { replayParked } from '../shared/recovery';
import { readJsonBody } from '../shared/http-body';

const Body = z.object({
  sliceIds: z.array(z.string().min(1).max(200)).max(10_000).optional(),
  detailRecords: z.array(z.string().min(1).max(200)).max(10_000).optional(),
}).strict();

export async function replay(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const rt = await getRuntime();
  const { source, notFound } = lookupSource(rt.config, request.params.source);
  if (notFound) return { status: notFound.status, jsonBody: notFound.body };
  const sourceId = source.id;
  let sliceIds: string[] | undefined;
  let detailRecords: string[] | undefined;
  if (request.headers.get('content-length') !== '0' && request.body) {
    const body = await readJsonBody(request);
    if (!body.ok) return { status: body.response.status, jsonBody: body.response.body };
    const parsed = Body.safeParse(body.value);
    if (!parsed.success) {
      return { status: 400, jsonBody: { error: 'BadRequest', field: parsed.error.issues[0]!.path.join('.') || 'body', message: 'the body is optional; when given it is {"sliceIds": ["<slice id>", …]} and/or {"detailRecords": ["<detail record>", …]} (ids from GET /api/status/<source>)' } };
    }
    sliceIds = parsed.data.sliceIds;
    detailRecords = parsed.data.detailRecords;
    // Only detail records named: no slice is replayed.
    if (detailRecords && !sliceIds) sliceIds = [];
  }
  const result = await replayParked(rt, source, sliceIds, detailRecords);
  return { status: 200, jsonBody: { source: sourceId, ...result } };
}

app.http('replay', { ...httpTrigger('replay'), handler: replay });
