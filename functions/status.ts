/** HTTP: status of every source, or of one. */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpTrigger, lookupSource } from '../shared/http-api';
import { getRuntime } from '../shared/runtime';
import { sourceStatus } from '../shared/status';
import { listUnattributedPoison, queueDepths } from '../shared/worker/poison';

export async function status(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const rt = await getRuntime();
  const id = request.params.source;
  if (id) {
    const { source, notFound } = lookupSource(rt.config, id);
    if (notFound) return { status: notFound.status, jsonBody: notFound.body };
    return { status: 200, jsonBody: await sourceStatus(rt, source) };
  }
  const sources = await Promise.all(rt.config.sources.map((s) => sourceStatus(rt, s)));
  const [poison, queues] = await Promise.all([listUnattributedPoison(rt), queueDepths(rt.storage, rt.queueName)]);
  return { status: 200, jsonBody: { now: new Date(rt.clock.now()).toISOString(), sources, unattributedPoison: poison, queues } };
}

app.http('status', { ...httpTrigger('status'), handler: status });
