/**
 * The HTTP front of the local host: route prefix, routes, methods and function keys as the
 * Functions host applies them, then the request goes to the function as RPC http data and the
 * function's RPC http response is written back.
 *
 * - Unknown route, or a known route with a method the function does not accept: 404, as the real
 *   host does (Azure/azure-functions-host#10098).
 * - authLevel function/admin/system: `x-functions-key` header or `code` query must hold the key,
 *   else 401. anonymous: no key.
 * - A function that throws: 500 with an empty body. A function that returns nothing: 204.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { compileRoute, type CompiledRoute } from './http-routes';
import type { RpcHttpCookie, RpcHttpData, RpcInvocationResponse, RpcTypedData } from './core-api';
import type { HostLog } from './invoker';

export interface HttpFunctionRoute {
  functionName: string;
  triggerName: string;
  route: CompiledRoute;
  methods: string[];
  authLevel: string;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  routePrefix: string;
  functionKey: string;
  log: HostLog;
  /** Invokes an HTTP function; rejects on failure. */
  invoke(fn: HttpFunctionRoute, request: RpcHttpData, triggerMetadata: Record<string, RpcTypedData>): Promise<RpcInvocationResponse>;
  /** `POST /admin/functions/{name}`: runs a non-HTTP function (as the host's admin API). */
  runNonHttp(name: string, input: string | undefined): 'accepted' | 'not-found';
  isReady(): boolean;
}

const MAX_BODY_BYTES = 100 * 1024 * 1024; // the host's default request size limit

export function buildHttpRoutes(
  functions: { name: string; triggerName: string; binding: Record<string, unknown> }[],
): HttpFunctionRoute[] {
  return functions.map(({ name, triggerName, binding }) => {
    const where = `Function "${name}"`;
    const route = typeof binding.route === 'string' && binding.route !== '' ? binding.route : name;
    const methodsRaw = binding.methods;
    if (methodsRaw !== undefined && !Array.isArray(methodsRaw)) throw new Error(`${where}: methods must be an array such as ["GET", "POST"]`);
    const methods = (methodsRaw as unknown[] | undefined)?.map((m) => String(m).toUpperCase()) ?? [];
    const authLevel = String(binding.authLevel ?? 'anonymous').toLowerCase();
    if (!['anonymous', 'function', 'admin', 'system', 'user'].includes(authLevel)) {
      throw new Error(`${where}: authLevel must be "anonymous", "function" or "admin", got "${String(binding.authLevel)}"`);
    }
    return { functionName: name, triggerName, route: compileRoute(route, where), methods, authLevel };
  });
}

function keyMatches(given: string | undefined, key: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

function flattenHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function serialiseCookie(c: RpcHttpCookie): string {
  const parts = [`${c.name ?? ''}=${c.value ?? ''}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  const exp = c.expires?.value;
  if (exp && exp.seconds !== undefined && exp.seconds !== null) {
    parts.push(`Expires=${new Date(Number(exp.seconds) * 1000 + Math.floor((exp.nanos ?? 0) / 1e6)).toUTCString()}`);
  }
  if (c.maxAge?.value !== undefined && c.maxAge?.value !== null) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  if (c.sameSite && c.sameSite !== 'none') parts.push(`SameSite=${c.sameSite === 'explicitNone' ? 'None' : c.sameSite[0]!.toUpperCase() + c.sameSite.slice(1)}`);
  return parts.join('; ');
}

function bodyBytes(data: RpcTypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (typeof data.string === 'string') return Buffer.from(data.string);
  if (typeof data.json === 'string') return Buffer.from(data.json);
  if (typeof data.int === 'number') return Buffer.from(String(data.int));
  if (typeof data.double === 'number') return Buffer.from(String(data.double));
  return Buffer.alloc(0);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class LocalHttpServer {
  private readonly server: http.Server;
  private routes: HttpFunctionRoute[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private address?: AddressInfo;

  constructor(private readonly o: HttpServerOptions) {
    this.server = http.createServer((req, res) => {
      const p = this.handle(req, res).catch((err) => {
        this.o.log('error', `HTTP request ${req.method} ${req.url} failed in the local host: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    });
  }

  setRoutes(routes: HttpFunctionRoute[]): void {
    this.routes = routes;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(`HTTP port ${this.o.port} on ${this.o.host} is already in use; pass http.port (0 picks a free port) or stop the other process`)
            : err,
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
    this.address = this.server.address() as AddressInfo;
    return this.address;
  }

  get port(): number {
    return this.address?.port ?? this.o.port;
  }

  /** Waits for requests being handled, then closes the server. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const hostHeader = req.headers.host ?? `${this.o.host}:${this.port}`;
    const url = new URL(req.url ?? '/', `http://${hostHeader}`);
    const path = url.pathname;

    if (/^\/admin(\/|$)/i.test(path)) return this.handleAdmin(req, res, url, method);
    if (!this.o.isReady()) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('The local Functions host is not started yet');
      return;
    }
    let rest: string;
    const prefix = this.o.routePrefix;
    if (prefix === '') {
      rest = path.replace(/^\/+/, '');
    } else {
      const lower = path.toLowerCase();
      const p = `/${prefix.toLowerCase()}`;
      if (lower !== p && !lower.startsWith(`${p}/`)) return void res.writeHead(404).end();
      rest = path.slice(p.length).replace(/^\/+/, '');
    }
    const candidates = this.routes
      .map((r) => ({ r, params: r.route.match(rest) }))
      .filter((c): c is { r: HttpFunctionRoute; params: Record<string, string> } => c.params !== undefined)
      .filter((c) => c.r.methods.length === 0 || c.r.methods.includes(method))
      .sort((a, b) => b.r.route.precedence - a.r.route.precedence);
    const chosen = candidates[0];
    if (!chosen) return void res.writeHead(404).end();
    const { r: fn, params } = chosen;

    if (fn.authLevel !== 'anonymous') {
      const given = (req.headers['x-functions-key'] as string | undefined) ?? url.searchParams.get('code') ?? undefined;
      if (!keyMatches(given, this.o.functionKey)) return void unauthorized(res, given, fn.authLevel);
    }

    const body = await readBody(req);
    if (body === 'too-large') return void res.writeHead(413).end();
    const headers = flattenHeaders(req);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
    const rpc: RpcHttpData = {
      method,
      url: url.toString(),
      headers,
      query,
      params,
      ...(body.length > 0 ? { body: { bytes: body }, rawBody: { bytes: body } } : {}),
    };
    const metadata: Record<string, RpcTypedData> = {
      Query: { json: JSON.stringify(query) },
      Headers: { json: JSON.stringify(headers) },
    };
    for (const [k, v] of Object.entries(params)) metadata[k] = { string: v };

    let response: RpcInvocationResponse;
    try {
      response = await this.o.invoke(fn, rpc, metadata);
    } catch {
      // Logged by the host with the function name; the real host answers 500 with no body.
      if (!res.headersSent) res.writeHead(500);
      res.end();
      return;
    }
    const out = response.returnValue?.http;
    if (!out) {
      res.writeHead(204).end();
      return;
    }
    const status = Number(out.statusCode ?? 200) || 200;
    const outHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(out.headers ?? {})) outHeaders[k] = v;
    const cookies = (out.cookies ?? []).map(serialiseCookie);
    if (cookies.length > 0) outHeaders['set-cookie'] = cookies;
    const payload = bodyBytes(out.body);
    res.writeHead(status, outHeaders);
    res.end(method === 'HEAD' || status === 204 || status === 304 ? undefined : payload);
  }

  private async handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, method: string): Promise<void> {
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
    };
    if (method === 'GET' && /^\/admin\/host\/status\/?$/i.test(url.pathname)) {
      return json(200, { state: this.o.isReady() ? 'Running' : 'Initialized', version: 'local' });
    }
    const m = /^\/admin\/functions\/([^/]+)\/?$/i.exec(url.pathname);
    if (!m || method !== 'POST') return void res.writeHead(404).end();
    const given = (req.headers['x-functions-key'] as string | undefined) ?? url.searchParams.get('code') ?? undefined;
    if (!keyMatches(given, this.o.functionKey)) return void unauthorized(res, given, 'admin');
    if (!this.o.isReady()) return json(503, { error: 'The local Functions host is not started yet' });
    const body = await readBody(req);
    if (body === 'too-large') return void res.writeHead(413).end();
    let input: string | undefined;
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return json(400, { error: 'The body must be JSON such as {"input": "..."}' });
      }
      const raw = (parsed as { input?: unknown } | null)?.input;
      if (raw !== undefined && typeof raw !== 'string') return json(400, { error: '"input" must be a string' });
      input = raw;
    }
    const outcome = this.o.runNonHttp(decodeURIComponent(m[1]!), input);
    if (outcome === 'not-found') return void res.writeHead(404).end();
    res.writeHead(202).end();
  }
}

/**
 * A 401 that says which key is missing (Azure's host answers with an empty body; the local host
 * tells the user what to send). Never echoes the key that was given.
 */
function unauthorized(res: http.ServerResponse, given: string | undefined, level: string): void {
  const message = given === undefined
    ? `this route needs the ${level === 'admin' ? 'master (admin)' : 'function'} key: send it in the x-functions-key header (or ?code=); mtc start prints it`
    : `the ${level === 'admin' ? 'master (admin)' : 'function'} key given in x-functions-key (or ?code=) is not this host's key; mtc start prints the right one`;
  res.writeHead(401, { 'content-type': 'application/json; charset=utf-8' })
    .end(JSON.stringify({ error: 'Unauthorized', missing: 'x-functions-key', authLevel: level, message }));
}
