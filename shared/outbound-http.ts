/**
 * The one HTTP layer for every outbound call: the message trace APIs (shared/api/http.ts), Entra
 * ID's token and metadata endpoints (shared/auth, shared/api/network.ts) and every destination
 * (shared/destinations/transport.ts). It owns what they share:
 * - `send`: one request with got: a timeout, the caller's abort signal, no automatic retries (the
 *   worker decides) and no redirects (a token never follows one), the body as text;
 * - the failure before any response: the Node error code found on the error or its causes, handed
 *   to the caller's classifier (the API names the network cause, a destination its id);
 * - `retryAfterSeconds`: the one `Retry-After` parser (seconds or an HTTP date);
 * - `looksLikeHtml`: the one check for an HTML page where JSON was expected.
 *
 * got is ESM-only and this project compiles to CommonJS (see the README's development section),
 * so it is loaded with a dynamic import, once, here.
 */
import type { Got } from 'got' with { 'resolution-mode': 'import' };

let gotPromise: Promise<Got> | undefined;

function loadGot(): Promise<Got> {
  gotPromise ??= import('got').then((m) => m.default);
  return gotPromise;
}

export type ReplyHeaders = Record<string, string | string[] | undefined>;

export interface OutboundRequest {
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  /** A raw body, or `form` for application/x-www-form-urlencoded. */
  body?: Buffer | string;
  form?: Record<string, string>;
  timeoutMs: number;
  /** The caller's abort signal (the worker's, when the page's time is up). */
  signal?: AbortSignal;
}

export interface OutboundReply {
  status: number;
  headers: ReplyHeaders;
  body: string;
}

/**
 * Sends one request and returns any response, whatever its status. A failure before a response
 * (reset, timeout, DNS, TLS, abort) becomes the error `noResponse` makes of its code (Node's
 * `code`, found on the error or its causes; `NetworkError` when there is none).
 */
export async function send(url: string, req: OutboundRequest, noResponse: (code: string, cause: unknown) => Error): Promise<OutboundReply> {
  const got = await loadGot();
  try {
    const r = await got(url, {
      method: req.method ?? 'GET',
      ...(req.body !== undefined ? { body: req.body } : {}),
      ...(req.form !== undefined ? { form: req.form } : {}),
      ...(req.headers ? { headers: req.headers } : {}),
      timeout: { request: req.timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'text',
      ...(req.signal ? { signal: req.signal } : {}),
    });
    return { status: r.statusCode, headers: r.headers as ReplyHeaders, body: r.body };
  } catch (err) {
    throw noResponse(errorCodeOf(err) ?? 'NetworkError', err);
  }
}

export type NetworkCause = 'tls-untrusted' | 'tls-invalid' | 'refused' | 'dns' | 'timeout' | 'reset' | 'unreachable';

const TLS_UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED']);
const TLS_INVALID = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_REVOKED', 'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO']);

/** The network cause of an error code (Node's `code`), or undefined when it is not a network failure. */
export function networkCauseOf(code: string | undefined): NetworkCause | undefined {
  if (!code) return undefined;
  if (TLS_UNTRUSTED.has(code)) return 'tls-untrusted';
  if (TLS_INVALID.has(code)) return 'tls-invalid';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') return 'reset';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return 'unreachable';
  return undefined;
}

/** Finds a Node error code on an error or its causes (a network cause first). */
export function errorCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && networkCauseOf(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A response header's first value (`name` in any case). */
export function responseHeader(headers: ReplyHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The `Retry-After` of a response, in seconds: a number of seconds, or an HTTP date (seconds from
 * `nowMs` to it, at least 0). Undefined when it is missing or neither.
 */
export function retryAfterSeconds(value: string | ReplyHeaders | undefined, nowMs = Date.now()): number | undefined {
  const text = typeof value === 'object' ? responseHeader(value, 'retry-after') : value;
  const s = text?.trim();
  if (!s) return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** Whether a body that should be JSON is an HTML page (a sign-in page, a proxy's or gateway's error page). */
export function looksLikeHtml(body: string): boolean {
  return /^\s*</.test(body);
}
