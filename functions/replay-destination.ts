/** HTTP: replay one destination of a source (resume it when parked, re-collect what it missed, retry its parked units). */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpTrigger, lookupSource } from '../shared/http-api';
import { getRuntime } from '../shared/runtime';
import { replayDestination } from '../shared/delivery/replay';

export async function replayDestinationHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const rt = await getRuntime();
  const { source, notFound } = lookupSource(rt.config, request.params.source);
  if (notFound) return { status: notFound.status, jsonBody: notFound.body };
  const destination = request.params.destination ?? '';
  if (!source.destinations.includes(destination)) {
    return {
      status: 404,
      jsonBody: { error: 'NotFound', field: 'destination', message: `source "${source.id}" does not feed a destination "${destination}"; it feeds ${source.destinations.map((d) => `"${d}"`).join(', ')}` },
    };
  }
  return { status: 200, jsonBody: { ...(await replayDestination(rt, source, destination)) } };
}

app.http('replayDestination', { ...httpTrigger('replayDestination'), handler: replayDestinationHandler });
