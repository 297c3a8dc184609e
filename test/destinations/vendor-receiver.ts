/**
 * A local HTTP(S) receiver for the vendor tests: records every request (method, path, query,
 * headers, decompressed body) and answers with the test's handler.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** The body, gunzipped when Content-Encoding is gzip. */
  body: string;
  gzipped: boolean;
}

export interface Reply { status: number; body?: unknown; headers?: Record<string, string>; /** Answer this much later (a slow endpoint). */ delayMs?: number }

export interface VendorReceiver {
  url: string;
  requests: Recorded[];
  handler: (req: Recorded, index: number) => Reply;
  close(): Promise<void>;
}

export async function startVendorReceiver(handler: (req: Recorded, index: number) => Reply, tls?: { keyPem: string; certPem: string }): Promise<VendorReceiver> {
  const requests: Recorded[] = [];
  const receiver: VendorReceiver = { url: '', requests, handler, close: async () => undefined };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const gzipped = req.headers['content-encoding'] === 'gzip';
      if (gzipped) body = gunzipSync(body);
      const u = new URL(req.url ?? '/', 'http://x');
      const rec: Recorded = { method: req.method ?? '', path: u.pathname, query: u.searchParams, headers: req.headers, body: body.toString('utf8'), gzipped };
      requests.push(rec);
      const reply = receiver.handler(rec, requests.length - 1);
      const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      const answer = () => { if (!res.destroyed) res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.headers ?? {}) }).end(text); };
      if (reply.delayMs) setTimeout(answer, reply.delayMs).unref();
      else answer();
    });
  };
  const server = tls ? https.createServer({ key: tls.keyPem, cert: tls.certPem }, onRequest) : http.createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  receiver.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return receiver;
}

/** A SecretSource over a plain map (tests). */
export function secretsOf(values: Record<string, string>) {
  const invalidated: string[] = [];
  return {
    invalidated,
    async get(ref: { kind: string; name: string }): Promise<string> {
      const v = values[ref.name];
      if (v === undefined) throw new Error(`no test secret ${ref.name}`);
      return v;
    },
    invalidate(ref: { kind: string; name: string }): void {
      invalidated.push(ref.name);
    },
  };
}
