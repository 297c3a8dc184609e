/**
 * A local HTTP receiver standing in for a SIEM's NDJSON endpoint: it records every event it
 * accepts (gzip or not) and can inject faults: 5xx answers, slow answers, connection drops before
 * storing (nothing kept) and after storing (the acknowledgement is lost: the only case in which
 * the collector may legitimately send rows twice).
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { TraceEvent } from '../../shared/model/row';

export type ReceiverFault = 'error503' | 'slow' | 'dropBeforeStore' | 'dropAfterStore';

export interface ReceiverFaultPlan {
  /** Probability per request of each fault. */
  probabilities: Partial<Record<ReceiverFault, number>>;
  /** Seed of the fault randomness, so a run reproduces. */
  seed: number;
  slowMs?: number;
}

export interface Receiver {
  url: string;
  events: TraceEvent[];
  requests: { headers: http.IncomingHttpHeaders; count: number; status: number }[];
  /** For each stored event (same index as `events`): when its request arrived, and whether its acknowledgement was lost. */
  arrivals: { at: number; ackLost: boolean }[];
  faultsInjected: Record<ReceiverFault, number>;
  /** Rows stored in requests whose acknowledgement was lost (dropAfterStore). */
  ackLostRows: number;
  /** Status to answer instead of 200 (for the next `times` requests, or always when omitted). */
  failWith(status: number, times?: number): void;
  setFaults(plan: ReceiverFaultPlan | undefined): void;
  close(): Promise<void>;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startReceiver(): Promise<Receiver> {
  const events: TraceEvent[] = [];
  const arrivals: Receiver['arrivals'] = [];
  const requests: Receiver['requests'] = [];
  const faultsInjected: Record<ReceiverFault, number> = { error503: 0, slow: 0, dropBeforeStore: 0, dropAfterStore: 0 };
  let ackLostRows = 0;
  let failStatus = 0;
  let failTimes = Number.POSITIVE_INFINITY;
  let plan: ReceiverFaultPlan | undefined;
  let rng = mulberry32(1);

  const pickFault = (): ReceiverFault | undefined => {
    if (!plan) return undefined;
    for (const [fault, p] of Object.entries(plan.probabilities) as [ReceiverFault, number][]) {
      if (rng() < p) return fault;
    }
    return undefined;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = Date.now();
      if (failStatus && failTimes > 0) {
        failTimes -= 1;
        requests.push({ headers: req.headers, count: 0, status: failStatus });
        res.writeHead(failStatus, { 'content-type': 'application/json' }).end('{"error":"injected"}');
        if (failTimes <= 0) failStatus = 0;
        return;
      }
      const fault = pickFault();
      if (fault) faultsInjected[fault] += 1;
      if (fault === 'error503') {
        requests.push({ headers: req.headers, count: 0, status: 503 });
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"injected 503"}');
        return;
      }
      if (fault === 'dropBeforeStore') {
        requests.push({ headers: req.headers, count: 0, status: 0 });
        req.socket.destroy();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const lines = body.toString('utf8').split('\n').filter((l) => l.trim());
      const store = (ackLost = false) => {
        for (const l of lines) {
          events.push(JSON.parse(l) as TraceEvent);
          arrivals.push({ at: arrivedAt, ackLost });
        }
      };
      if (fault === 'dropAfterStore') {
        store(true);
        ackLostRows += lines.length;
        requests.push({ headers: req.headers, count: lines.length, status: 0 });
        req.socket.destroy();
        return;
      }
      const answer = () => {
        store();
        requests.push({ headers: req.headers, count: lines.length, status: 200 });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      };
      if (fault === 'slow') setTimeout(answer, plan?.slowMs ?? 300);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ingest`,
    events,
    arrivals,
    requests,
    faultsInjected,
    get ackLostRows() {
      return ackLostRows;
    },
    failWith(status, times) {
      failStatus = status;
      failTimes = times ?? Number.POSITIVE_INFINITY;
    },
    setFaults(p) {
      plan = p;
      rng = mulberry32(p?.seed ?? 1);
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
