/**
 * A local HTTP receiver standing in for a SIEM's NDJSON endpoint: it records every event it
 * accepts (gzip or not) and can be told to fail.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { TraceEvent } from '../../shared/model/row';

export interface Receiver {
  url: string;
  events: TraceEvent[];
  requests: { headers: http.IncomingHttpHeaders; count: number; status: number }[];
  /** Status to answer instead of 200 (for the next `times` requests, or always when omitted). */
  failWith(status: number, times?: number): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const events: TraceEvent[] = [];
  const requests: Receiver['requests'] = [];
  let failStatus = 0;
  let failTimes = Number.POSITIVE_INFINITY;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failStatus && failTimes > 0) {
        failTimes -= 1;
        requests.push({ headers: req.headers, count: 0, status: failStatus });
        res.writeHead(failStatus, { 'content-type': 'application/json' }).end('{"error":"injected"}');
        if (failTimes <= 0) failStatus = 0;
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const lines = body.toString('utf8').split('\n').filter((l) => l.trim());
      for (const l of lines) events.push(JSON.parse(l) as TraceEvent);
      requests.push({ headers: req.headers, count: lines.length, status: 200 });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ingest`,
    events,
    requests,
    failWith(status, times) {
      failStatus = status;
      failTimes = times ?? Number.POSITIVE_INFINITY;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Compares delivered events with the expected row keys: missing, duplicates and unexpected. */
export function compareDelivery(expectedKeys: Iterable<string>, deliveredKeys: string[]): { expected: number; delivered: number; missing: number; duplicate: number; unexpected: number } {
  const expected = new Set(expectedKeys);
  const seen = new Map<string, number>();
  for (const k of deliveredKeys) seen.set(k, (seen.get(k) ?? 0) + 1);
  let missing = 0, duplicate = 0, unexpected = 0;
  for (const k of expected) if (!seen.has(k)) missing++;
  for (const [k, n] of seen) {
    if (n > 1) duplicate += n - 1;
    if (!expected.has(k)) unexpected++;
  }
  return { expected: expected.size, delivered: deliveredKeys.length, missing, duplicate, unexpected };
}
