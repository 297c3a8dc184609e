/** HTTP: GET /api/sources/{source}/diagnose, the preflight diagnosis of one source (shared/diagnostics). */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpTrigger, lookupSource } from '../shared/http-api';
import { isTokenCredential } from '@azure/core-auth';
import { getRuntime } from '../shared/runtime';
import { diagnoseSource } from '../shared/diagnostics/diagnose';

export async function diagnose(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const rt = await getRuntime();
  const { source, notFound } = lookupSource(rt.config, request.params.source);
  if (notFound) return { status: notFound.status, jsonBody: notFound.body };
  const clients = rt.clientsFor(source);
  const credential = clients.credential;
  if (!isTokenCredential(credential)) return { status: 500, jsonBody: { error: 'Internal', message: 'the source has no token credential to diagnose' } };
  return { status: 200, jsonBody: await diagnoseSource(source, { credential, api: clients.api, clock: rt.clock }) };
}

app.http('diagnose', { ...httpTrigger('diagnose'), handler: diagnose });
