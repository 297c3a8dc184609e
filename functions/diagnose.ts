/** HTTP: GET /api/sources/{source}/diagnose, the preflight diagnosis of one source (shared/diagnostics). */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpTrigger } from '../shared/http-api';
import { isTokenCredential } from '@azure/core-auth';
import { getRuntime } from '../shared/runtime';
import { diagnoseSource } from '../shared/diagnostics/diagnose';

export async function diagnose(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const rt = await getRuntime();
  const id = request.params.source;
  const source = rt.config.sources.find((s) => s.id === id);
  if (!source) {
    return { status: 404, jsonBody: { error: 'NotFound', field: 'source', message: `no source "${id ?? ''}" is configured; the sources are ${rt.config.sources.map((s) => `"${s.id}"`).join(', ') || '(none)'}` } };
  }
  const clients = rt.clientsFor(source);
  const credential = clients.credential;
  if (!isTokenCredential(credential)) return { status: 500, jsonBody: { error: 'Internal', message: 'the source has no token credential to diagnose' } };
  return { status: 200, jsonBody: await diagnoseSource(source, { credential, api: clients.api, clock: rt.clock }) };
}

app.http('diagnose', { ...httpTrigger('diagnose'), handler: diagnose });
