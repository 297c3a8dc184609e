/**
 * The simulator process: one http(s) server (one origin) that answers the Entra routes (delegated
 * to simulator/entra.ts), Microsoft Graph message trace (graph.ts) and the legacy RWS report
 * (rws.ts), with per-tenant throttling, latency and fault injection, all on the injected Clock.
 *
 * Request pipeline for Graph and RWS calls:
 *   latency (clock time) -> token check (to learn the tenant) -> faults (they pre-empt everything
 *   and do not use the tenant budget) -> 401 for a bad token -> tenant prerequisites (service
 *   principal, permission, role) -> throttle (429 + Retry-After) -> the answer -> response faults
 *   (truncated, corruptNextLink).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../shared/time/clock';
import { EntraSimulator, type EntraApp } from './entra';
import { ECHO_FAULTS, FaultEngine, type FaultApi, type FaultKind, type FaultRule } from './faults';
import type { DetailEvent } from './detail';
import { detailAnswer, getDetailsByRecipient, listMessageTraces, poisonNextLink, type GraphRequest } from './graph';
import { parseSimulatorOptions, SimulatorOptionsError, type ResolvedTenant, type SimulatorOptions, type SimulatorTenantOptions } from './options';
import { hash32, Prng } from './prng';
import { graphError, jsonResponse, MESSAGES, newRequestIds, rwsError, type RequestIds, type SimResponse } from './response';
import { messageTraceReport, RWS_PATH, serviceDocument } from './rws';
import { RollingThrottle } from './throttle';
import { createSelfSignedCertificate } from './tls';
import { TenantTraffic, toGraphRow, type FinalStatus, type GraphMessageTraceRow, type InjectedRow } from './traffic';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const EXCHANGE_RESOURCE = 'https://outlook.office365.com';
export const GRAPH_PERMISSION = 'ExchangeMessageTrace.Read.All';
export const RWS_PERMISSION = 'ReportingWebService.Read.All';
export const RWS_DELEGATED = 'ReportingWebService.Read';

/**
 * The simulator accepts request heads up to 1 MB, so a long continuation (graph.skipTokenPadding)
 * reaches the Graph handler instead of Node's 16 KB default answering 431.
 */
const MAX_REQUEST_HEAD_BYTES = 1024 * 1024;

export interface SimulatorTenantStats {
  /** Graph list, Graph detail and RWS requests that named this tenant (token endpoint calls excluded). */
  requests: number;
  listRequests: number;
  detailRequests: number;
  rwsRequests: number;
  /** 429s from the rolling budget (injected 429 faults are in faultsInjected['429']). */
  throttled: number;
  faultsInjected: Record<string, number>;
  byStatus: Record<number, number>;
}

/** What groundTruth returns: rows visible at `asOf` (default now), optionally without the late rows. */
export interface GroundTruthOptions {
  asOf?: number;
  /** Only rows visible at asOf (default true). */
  onlyVisible?: boolean;
  /**
   * The rows of `rereadChanges.lateRowFraction` (hidden until a page covering them was served):
   * 'visible' (default) as any other row; 'served' only those some response has served (a
   * collector can find a late row only with a later read of its window: a page fetched again after
   * a crash, a settle re-read; once served, it must not be lost); 'none' never.
   */
  lateRows?: 'visible' | 'served' | 'none';
}

/** Options of the detail ground truth. */
export interface DetailGroundTruthOptions {
  /** The instant asked about (default clock.now()): the row's visibility and status then. */
  asOf?: number;
  /** 'v1.0' (default) or 'beta' (each event then carries @odata.type). */
  version?: 'v1.0' | 'beta';
}

/** One row of groundTruthDetails: the row (as groundTruth returns it) and its detail events. */
export interface RowWithDetails {
  row: GraphMessageTraceRow;
  details: DetailEvent[];
}

export interface Simulator {
  /** e.g. https://127.0.0.1:54321 (authority host, Graph root and RWS host are the same origin). */
  readonly baseUrl: string;
  readonly authorityHost: string;
  /** Paths /v1.0/admin/exchange/tracing/messageTraces and /beta/... */
  readonly graphBaseUrl: string;
  /** baseUrl + '/ecp/reportingwebservice/reporting.svc' */
  readonly rwsBaseUrl: string;
  /** With https: the self-signed certificate clients must trust. */
  readonly caCertificatePem?: string;
  readonly clock: Clock;
  readonly tenants: ReadonlyArray<{ tenantId: string; clientId: string; clientSecret: string; rowsPerDay: number }>;
  readonly entra: EntraSimulator;
  /**
   * Ground truth: every row whose receivedDateTime is in [startMs, endMs) (half-open), in Graph
   * v1.0 shape with camelCase status, as of `asOf` (default clock.now()). With onlyVisible
   * (default true) only rows visible at asOf; `lateRows` chooses which late rows count. Newest
   * first, like the API.
   */
  groundTruth(tenantId: string, startMs: number, endMs: number, opts?: GroundTruthOptions): GraphMessageTraceRow[];
  countGroundTruth(tenantId: string, startMs: number, endMs: number, opts?: GroundTruthOptions): number;
  /**
   * Detail ground truth: exactly the events getDetailsByRecipient answers for this row at
   * `asOf` (every page of it, in order), or [] when it answers {"value":[]} (unknown id or
   * recipient, a row not visible yet, a row beyond graph.detailRetentionDays; with
   * detailBeyondRetention 'badRequest' the endpoint answers 400 there instead). The recipient
   * compares case-insensitively.
   */
  detailsGroundTruth(tenantId: string, row: { id: string; recipientAddress: string }, opts?: DetailGroundTruthOptions): DetailEvent[];
  /**
   * groundTruth for [startMs, endMs) with each row's detail ground truth, optionally only the rows
   * whose status (as of asOf, case-insensitive) is in `statuses`, e.g. ['failed', 'quarantined',
   * 'filteredAsSpam'] for the rows a collector enriches.
   */
  groundTruthDetails(tenantId: string, startMs: number, endMs: number, opts?: GroundTruthOptions & DetailGroundTruthOptions & { statuses?: string[] }): RowWithDetails[];
  stats(tenantId: string): SimulatorTenantStats;
  addFault(rule: FaultRule): void;
  /**
   * Places rows exactly as given (tests: a row stamped on a slice boundary). They are served like
   * any other row and are part of groundTruth. Invalid rows throw SimulatorOptionsError.
   */
  injectRows(tenantId: string, rows: InjectedRow[]): void;
  /** Changes the status, subject or size of injected rows of that recipient (tests of re-reads); returns how many changed. */
  amendInjectedRows(tenantId: string, recipientAddress: string, patch: { status?: FinalStatus; subject?: string; size?: number }): number;
  clearFaults(): void;
  setTenant(tenantId: string, patch: Partial<Pick<SimulatorTenantOptions, 'servicePrincipalProvisioned' | 'graphPermissionGranted' | 'rwsRoleAssigned'>>): void;
  stop(): Promise<void>;
}

interface TenantRuntime {
  config: ResolvedTenant;
  traffic: TenantTraffic;
  stats: SimulatorTenantStats;
}

function emptyStats(): SimulatorTenantStats {
  return { requests: 0, listRequests: 0, detailRequests: 0, rwsRequests: 0, throttled: 0, faultsInjected: {}, byStatus: {} };
}

function appFor(t: ResolvedTenant): EntraApp {
  return {
    clientId: t.clientId,
    clientSecret: t.clientSecret,
    redirectUris: ['https://localhost', 'http://localhost'],
    appRoles: {
      [GRAPH_RESOURCE]: t.graphPermissionGranted ? [GRAPH_PERMISSION] : [],
      [EXCHANGE_RESOURCE]: t.rwsRoleAssigned ? [RWS_PERMISSION] : [],
    },
    delegatedScopes: {
      [GRAPH_RESOURCE]: t.graphPermissionGranted ? [GRAPH_PERMISSION] : [],
      [EXCHANGE_RESOURCE]: t.rwsRoleAssigned ? [RWS_DELEGATED] : [],
    },
  };
}

const SIGN_IN_PAGE = '<!DOCTYPE html><html dir="ltr" class="" lang="en"><head><title>Sign in to Outlook</title>'
  + '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">'
  + '</head><body><div id="lightbox"><div role="heading" aria-level="1" class="title">Sign in</div>'
  + '<form method="post" action="/owa/auth.owa"><input type="email" name="loginfmt" placeholder="Email, phone, or Skype"></form></div></body></html>';

type Route =
  | { api: 'graph'; version: 'v1.0' | 'beta' }
  | { api: 'detail'; version: 'v1.0' | 'beta'; id: string; recipient: string }
  | { api: 'graph-bad'; version: 'v1.0' | 'beta' }
  | { api: 'rws'; sub: string }
  | { api: 'token'; tenant: string }
  | { api: 'other' };

const GRAPH_RE = /^\/(v1\.0|beta)\/admin\/exchange\/tracing\/messagetraces(\/.*)?$/i;
const DETAIL_RE = /^\/([^/]+)\/getdetailsbyrecipient\(recipientaddress='((?:[^']|'')*)'\)\/?$/i;

function route(pathname: string): Route {
  let path = pathname;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    // keep the raw path
  }
  const g = GRAPH_RE.exec(path);
  if (g) {
    const version = g[1]!.toLowerCase() === 'beta' ? 'beta' : 'v1.0';
    const rest = g[2] ?? '';
    if (rest === '' || rest === '/') return { api: 'graph', version };
    const d = DETAIL_RE.exec(rest);
    if (d) return { api: 'detail', version, id: d[1]!, recipient: d[2]!.replace(/''/g, "'") };
    return { api: 'graph-bad', version };
  }
  const lower = path.toLowerCase();
  if (lower === RWS_PATH || lower.startsWith(RWS_PATH + '/')) return { api: 'rws', sub: lower.slice(RWS_PATH.length) };
  const segs = path.split('/').filter(Boolean);
  const first = (segs[0] ?? '').toLowerCase();
  const second = (segs[1] ?? '').toLowerCase();
  if (first === 'common' || first === 'organizations' || ['oauth2', 'v2.0', 'discovery', '.well-known'].includes(second)) {
    return { api: 'token', tenant: first };
  }
  return { api: 'other' };
}

/** Starts the simulator. Options are validated first (SimulatorOptionsError names the bad one). */
export async function startSimulator(options?: SimulatorOptions): Promise<Simulator> {
  const o = parseSimulatorOptions(options);
  const clock = o.clock;
  const tenants = new Map<string, TenantRuntime>();
  for (const t of o.tenants) {
    // The bucket caches share one budget of about 600k rows (~150 MB) across tenants.
    const cacheRowBudget = Math.max(50_000, Math.floor(600_000 / o.tenants.length));
    let traffic: TenantTraffic;
    try {
      traffic = new TenantTraffic(o.seed, t.index, t.traffic, o.graph.receivedPrecision, cacheRowBudget);
    } catch (err) {
      if (err instanceof RangeError) throw new SimulatorOptionsError(`tenants[${t.index}].traffic.injectedRows`, `Invalid simulator option tenants[${t.index}].traffic.${err.message}`);
      throw err;
    }
    tenants.set(t.tenantId, { config: t, traffic, stats: emptyStats() });
  }
  const entra = new EntraSimulator({
    clock,
    tokenLifetimeSec: o.tokenLifetimeSec,
    tenants: o.tenants.map((t) => ({ tenantId: t.tenantId, domains: t.traffic.acceptedDomains, apps: [appFor(t)] })),
  });
  const faults = new FaultEngine(o.seed, o.faults);
  const throttle = new RollingThrottle(clock, o.throttle);
  const latencyRng = new Prng(hash32(o.seed, 0x1a7e));
  const unknownTenantStats = emptyStats();

  let cert: { keyPem: string; certPem: string } | undefined;
  if (o.https) cert = await createSelfSignedCertificate({ hosts: [...new Set([o.host, '127.0.0.1', 'localhost'])] });
  let baseUrl = '';

  const statsFor = (tenantId: string | undefined) => (tenantId ? tenants.get(tenantId.toLowerCase())?.stats : undefined);
  const countFault = (tenantId: string | undefined, kind: FaultKind) => {
    const s = statsFor(tenantId) ?? unknownTenantStats;
    s.faultsInjected[kind] = (s.faultsInjected[kind] ?? 0) + 1;
  };

  const errorFor = (api: FaultApi, status: number, code: string, message: string, ids: RequestIds, headers: Record<string, string> = {}): SimResponse => {
    if (api === 'rws') {
      const r = rwsError(status, message);
      return { ...r, headers: { ...r.headers, ...headers } };
    }
    if (api === 'token') return jsonResponse(status, { error: code, error_description: message }, headers);
    return graphError(status, code, message, ids, headers);
  };

  /** The response of a pre-emptive fault, or 'reset' / 'hang' when nothing is to be written. */
  const faultResponse = (rule: FaultRule, api: FaultApi, ids: RequestIds): SimResponse | 'reset' | 'hang' => {
    switch (rule.kind) {
      case '429':
        return errorFor(api, 429, 'TooManyRequests', MESSAGES.throttled, ids, { 'retry-after': String(rule.retryAfterSec ?? 10) });
      case '500':
        return errorFor(api, 500, 'InternalServerError', 'An internal server error occurred. The operation failed.', ids);
      case '503':
        return errorFor(api, 503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please retry later.', ids, { 'retry-after': String(rule.retryAfterSec ?? 5) });
      case '504':
        return errorFor(api, 504, 'GatewayTimeout', 'The operation timed out.', ids);
      case 'reset':
        return 'reset';
      case 'hang':
        return 'hang';
      case 'html':
        return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: SIGN_IN_PAGE };
      case 'missingServicePrincipal':
        return errorFor(api, 401, 'Unauthorized', MESSAGES.servicePrincipalMissing, ids);
      case 'forbidden':
        if (api === 'rws') return jsonResponse(403, { ErrorCode: '', Message: MESSAGES.rwsForbidden });
        return errorFor(api, 403, 'Authorization_RequestDenied', MESSAGES.forbidden, ids);
      case 'expiredToken':
        return errorFor(api, 401, 'InvalidAuthenticationToken', MESSAGES.expiredToken, ids, { 'www-authenticate': 'Bearer error="invalid_token", error_description="The access token is expired"' });
      default:
        return errorFor(api, 500, 'InternalServerError', `Unhandled fault ${rule.kind}`, ids);
    }
  };

  const send = (res: http.ServerResponse, r: SimResponse) => {
    res.writeHead(r.status, { 'content-length': String(Buffer.byteLength(r.body)), ...r.headers });
    res.end(r.body);
  };

  const handleApi = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, r: Exclude<Route, { api: 'token' } | { api: 'other' }>) => {
    const api: FaultApi = r.api === 'rws' ? 'rws' : r.api === 'detail' ? 'detail' : 'graph';
    const now = clock.now();
    const ids = newRequestIds(headerValue(req, 'client-request-id'), now);
    const check = entra.verifyAccessToken(headerValue(req, 'authorization'), api === 'rws' ? EXCHANGE_RESOURCE : GRAPH_RESOURCE);
    const tenant = check.ok ? tenants.get(check.claims.tid.toLowerCase()) : undefined;
    const tenantId = check.ok ? check.claims.tid.toLowerCase() : undefined;
    const stats = tenant?.stats;
    let status = 0;
    const finish = (resp: SimResponse) => {
      status = resp.status;
      send(res, resp);
    };
    try {
      if (stats) {
        stats.requests++;
        if (api === 'rws') stats.rwsRequests++;
        else if (api === 'detail') stats.detailRequests++;
        else stats.listRequests++;
      }
      const faultReq = { api, tenantId, path: url.pathname + url.search };
      const pre = faults.pick(faultReq, (k) => k !== 'truncated' && k !== 'corruptNextLink' && !ECHO_FAULTS.includes(k));
      if (pre) {
        countFault(tenantId, pre.kind);
        const fr = faultResponse(pre, api, ids);
        if (fr === 'reset') {
          req.socket.destroy();
          return;
        }
        if (fr === 'hang') return; // never answered; the client times out (or stop() closes it)
        return finish(fr);
      }
      if (req.method !== 'GET') return finish(errorFor(api, 405, 'MethodNotAllowed', `The ${req.method} method is not allowed here; use GET.`, ids, { allow: 'GET' }));
      if (!check.ok) {
        if (api === 'rws') return finish({ ...rwsError(401, check.message), headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': 'Bearer' } });
        return finish(graphError(401, check.code, check.message, ids, { 'www-authenticate': 'Bearer' }));
      }
      if (!tenant) return finish(errorFor(api, 401, 'InvalidAuthenticationToken', 'Access token validation failure. The tenant is unknown.', ids));
      const claims = check.claims;
      const has = (role: string, scope: string) => (claims.roles ?? []).includes(role) || (claims.scp ?? '').split(' ').includes(scope);
      if (api === 'rws') {
        if (!tenant.config.rwsRoleAssigned || !has(RWS_PERMISSION, RWS_DELEGATED)) return finish(jsonResponse(403, { ErrorCode: '', Message: MESSAGES.rwsForbidden }));
      } else {
        if (!tenant.config.servicePrincipalProvisioned) return finish(graphError(401, 'Unauthorized', MESSAGES.servicePrincipalMissing, ids));
        if (!tenant.config.graphPermissionGranted || !has(GRAPH_PERMISSION, GRAPH_PERMISSION)) return finish(graphError(403, 'Authorization_RequestDenied', MESSAGES.forbidden, ids));
      }
      const decision = throttle.take(tenant.config.tenantId);
      if (!decision.allowed) {
        tenant.stats.throttled++;
        const headers = { 'retry-after': String(decision.retryAfterSec) };
        if (api === 'rws') return finish({ ...rwsError(429, MESSAGES.throttled), headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });
        return finish(graphError(429, 'TooManyRequests', MESSAGES.throttled, ids, headers));
      }
      let resp: SimResponse;
      if (r.api === 'rws') {
        const sub = r.sub.replace(/\/$/, '');
        if (sub === '') resp = serviceDocument(baseUrl);
        else if (sub === '/messagetrace') {
          resp = messageTraceReport({ url, accept: headerValue(req, 'accept'), traffic: tenant.traffic, now, baseUrl, options: o.rws });
        } else resp = rwsError(404, `Resource not found for the segment '${sub.slice(1)}'.`);
      } else {
        const greq: GraphRequest = {
          version: r.version, url, prefer: headerValue(req, 'prefer'), ids, traffic: tenant.traffic, now, baseUrl, options: o.graph,
        };
        if (r.api === 'graph') resp = listMessageTraces(greq);
        else if (r.api === 'detail') resp = getDetailsByRecipient(greq, r.id, r.recipient);
        else resp = graphError(400, 'BadRequest', `Resource not found for the segment '${url.pathname.split('/').pop() ?? ''}'.`, ids);
      }
      // Response faults: they need the real answer.
      const post = faults.pick(faultReq, (k) => (k === 'truncated' && resp.status === 200)
        || (k === 'corruptNextLink' && resp.status === 200 && resp.body.includes('"@odata.nextLink"')));
      if (post) {
        countFault(tenantId, post.kind);
        if (post.kind === 'truncated') {
          const half = Buffer.from(resp.body).subarray(0, Math.floor(Buffer.byteLength(resp.body) / 2)).toString('utf8');
          resp = { ...resp, body: half };
        } else {
          const body = JSON.parse(resp.body) as Record<string, unknown>;
          body['@odata.nextLink'] = poisonNextLink(String(body['@odata.nextLink']));
          resp = { ...resp, body: JSON.stringify(body) };
        }
      }
      return finish(resp);
    } finally {
      if (stats && status) stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    }
  };

  const handleToken = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, tenantSegment: string) => {
    const ids = newRequestIds(undefined, clock.now());
    const tenantId = tenants.has(tenantSegment) ? tenantSegment : [...tenants.values()].find((t) => t.config.traffic.acceptedDomains.includes(tenantSegment))?.config.tenantId;
    // Echo faults answer only the token POST itself (discovery and metadata GETs pass).
    const isTokenPost = req.method === 'POST' && /\/oauth2\/(v2\.0\/)?token\/?$/i.test(url.pathname);
    const fault = faults.pick({ api: 'token', tenantId, path: url.pathname + url.search }, (k) => k !== 'truncated' && k !== 'corruptNextLink' && (isTokenPost || !ECHO_FAULTS.includes(k)));
    if (fault && ECHO_FAULTS.includes(fault.kind)) {
      countFault(tenantId, fault.kind);
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      // Credential fields first, so they land inside any excerpt a client keeps of the body.
      const fields = Buffer.concat(chunks).toString('utf8').split('&');
      const secretFirst = /^(client_secret|client_assertion|refresh_token|code)=/;
      const form = [...fields.filter((f) => secretFirst.test(f)), ...fields.filter((f) => !secretFirst.test(f))].join('&');
      if (fault.kind === 'echoFormText') return send(res, { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: form });
      return send(res, jsonResponse(400, { error: 'invalid_request', error_description: form }));
    }
    if (fault) {
      countFault(tenantId, fault.kind);
      const fr = faultResponse(fault, 'token', ids);
      if (fr === 'reset') return void req.socket.destroy();
      if (fr === 'hang') return;
      return send(res, fr);
    }
    if (!(await entra.handle(req, res, url))) send(res, graphError(404, 'NotFound', `No route for ${url.pathname}`, ids));
  };

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', baseUrl);
    try {
      if (o.latency.meanMs > 0 || o.latency.jitterMs > 0) {
        const delay = Math.max(0, o.latency.meanMs + (latencyRng.next() * 2 - 1) * o.latency.jitterMs);
        await clock.sleep(delay);
      }
      const r = route(url.pathname);
      if (r.api === 'token') return await handleToken(req, res, url, r.tenant);
      if (r.api === 'other') {
        if (await entra.handle(req, res, url)) return;
        return send(res, graphError(404, 'NotFound', `The simulator has no resource at ${url.pathname}. Graph: /v1.0/admin/exchange/tracing/messageTraces; RWS: ${RWS_PATH}/MessageTrace.`, newRequestIds(undefined, clock.now())));
      }
      return await handleApi(req, res, url, r);
    } catch (err) {
      if (!res.headersSent) send(res, graphError(500, 'InternalServerError', `Simulator error: ${(err as Error).message}`, newRequestIds(undefined, clock.now())));
      else res.destroy();
    }
  };

  const server = cert
    ? https.createServer({ key: cert.keyPem, cert: cert.certPem, maxHeaderSize: MAX_REQUEST_HEAD_BYTES }, (req, res) => void onRequest(req, res))
    : http.createServer({ maxHeaderSize: MAX_REQUEST_HEAD_BYTES }, (req, res) => void onRequest(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' || o.host.includes(':') ? `[${o.host}]` : o.host;
  baseUrl = `${o.https ? 'https' : 'http'}://${hostForUrl}:${address.port}`;
  entra.setBaseUrl(baseUrl);

  const tenantOrThrow = (tenantId: string, method: string): TenantRuntime => {
    const t = typeof tenantId === 'string' ? tenants.get(tenantId.toLowerCase()) : undefined;
    if (!t) throw new RangeError(`Simulator.${method}: unknown tenantId '${String(tenantId)}'; use one of simulator.tenants[].tenantId`);
    return t;
  };
  const rangeOrThrow = (startMs: number, endMs: number, method: string) => {
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) throw new RangeError(`Simulator.${method}: startMs and endMs must be epoch milliseconds`);
  };

  const simulator: Simulator = {
    baseUrl,
    authorityHost: baseUrl,
    graphBaseUrl: baseUrl,
    rwsBaseUrl: baseUrl + RWS_PATH,
    ...(cert ? { caCertificatePem: cert.certPem } : {}),
    clock,
    tenants: o.tenants.map((t) => ({ tenantId: t.tenantId, clientId: t.clientId, clientSecret: t.clientSecret, rowsPerDay: t.traffic.rowsPerDay })),
    entra,
    groundTruth(tenantId, startMs, endMs, opts) {
      const t = tenantOrThrow(tenantId, 'groundTruth');
      rangeOrThrow(startMs, endMs, 'groundTruth');
      const asOf = opts?.asOf ?? clock.now();
      const onlyVisible = opts?.onlyVisible ?? true;
      const out: GraphMessageTraceRow[] = [];
      for (const row of t.traffic.rowsInHalfOpen(startMs, endMs)) {
        if (row.afterRead === 'late' && (opts?.lateRows === 'none' || (opts?.lateRows === 'served' && !t.traffic.lateRowServed(row)))) continue;
        if (!onlyVisible || t.traffic.isVisible(row, asOf)) out.push(toGraphRow(row, asOf, o.graph.receivedPrecision, t.traffic.statusOf(row, asOf)));
      }
      return out;
    },
    countGroundTruth(tenantId, startMs, endMs, opts) {
      const t = tenantOrThrow(tenantId, 'countGroundTruth');
      rangeOrThrow(startMs, endMs, 'countGroundTruth');
      const asOf = opts?.asOf ?? clock.now();
      const onlyVisible = opts?.onlyVisible ?? true;
      let n = 0;
      for (const row of t.traffic.rowsInHalfOpen(startMs, endMs)) {
        if (row.afterRead === 'late' && (opts?.lateRows === 'none' || (opts?.lateRows === 'served' && !t.traffic.lateRowServed(row)))) continue;
        if (!onlyVisible || t.traffic.isVisible(row, asOf)) n++;
      }
      return n;
    },
    detailsGroundTruth(tenantId, row, opts) {
      const t = tenantOrThrow(tenantId, 'detailsGroundTruth');
      if (!row || typeof row.id !== 'string' || typeof row.recipientAddress !== 'string') {
        throw new TypeError('Simulator.detailsGroundTruth: pass the row as { id, recipientAddress } (strings), e.g. a row of groundTruth()');
      }
      const answer = detailAnswer(t.traffic, row.id, row.recipientAddress, opts?.asOf ?? clock.now(), o.graph, opts?.version ?? 'v1.0');
      return answer.kind === 'events' ? answer.events : [];
    },
    groundTruthDetails(tenantId, startMs, endMs, opts) {
      const wanted = opts?.statuses?.map((s) => s.toLowerCase());
      const asOf = opts?.asOf ?? clock.now();
      return simulator.groundTruth(tenantId, startMs, endMs, { ...opts, asOf })
        .filter((r) => !wanted || wanted.includes(r.status.toLowerCase()))
        .map((r) => ({ row: r, details: simulator.detailsGroundTruth(tenantId, r, { asOf, ...(opts?.version ? { version: opts.version } : {}) }) }));
    },
    stats(tenantId) {
      return structuredClone(tenantOrThrow(tenantId, 'stats').stats);
    },
    addFault(rule) {
      const checked = parseSimulatorOptions({ tenants: 1, faults: [rule] }).faults[0]!;
      faults.add(checked);
    },
    injectRows(tenantId, rows) {
      const t = tenantOrThrow(tenantId, 'injectRows');
      const checked = parseSimulatorOptions({ tenants: [{ traffic: { injectedRows: rows } }] }).tenants[0]!.traffic.injectedRows;
      try {
        t.traffic.inject(checked);
      } catch (err) {
        if (err instanceof RangeError) throw new SimulatorOptionsError('injectedRows', `Simulator.injectRows: ${err.message}`);
        throw err;
      }
    },
    amendInjectedRows(tenantId, recipientAddress, patch) {
      return tenantOrThrow(tenantId, 'amendInjectedRows').traffic.amendInjected(recipientAddress, patch);
    },
    clearFaults() {
      faults.clear();
    },
    setTenant(tenantId, patch) {
      const t = tenantOrThrow(tenantId, 'setTenant');
      for (const [k, v] of Object.entries(patch ?? {})) {
        if (!['servicePrincipalProvisioned', 'graphPermissionGranted', 'rwsRoleAssigned'].includes(k)) {
          throw new RangeError(`Simulator.setTenant: unknown field '${k}'; use servicePrincipalProvisioned, graphPermissionGranted or rwsRoleAssigned`);
        }
        if (typeof v !== 'boolean') throw new TypeError(`Simulator.setTenant: ${k} must be true or false`);
      }
      Object.assign(t.config, patch);
      const app = appFor(t.config);
      for (const [resource, roles] of Object.entries(app.appRoles)) entra.setAppRoles(t.config.tenantId, t.config.clientId, resource, roles);
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return simulator;
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
