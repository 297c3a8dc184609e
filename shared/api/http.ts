/**
 * The message trace APIs' side of the one HTTP layer (shared/outbound-http.ts): a page GET with a
 * bearer token, its options, the token itself and the check of the URLs the token goes to.
 */
import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { CollectorError, excerptOf, thirdPartyGeneric } from '../errors';
import { networkFailure } from './network';
import { looksLikeHtml, networkCauseOf, send, type ReplyHeaders } from '../outbound-http';

export interface ApiGetOptions {
  /** The API name for error texts: "Graph", "RWS". */
  apiName: string;
  token: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  clientRequestId?: string;
  onRequest?: (info: { statusCode: number | undefined; durationMs: number }) => void;
}

/** The options of one page GET: the client's (timeout, request hook) and the call's (abort, request id). */
export function pageGetOptions(
  apiName: string,
  token: string,
  client: { timeoutMs?: number; onRequest?: ApiGetOptions['onRequest'] },
  call: { signal?: AbortSignal; clientRequestId?: string },
): ApiGetOptions {
  return {
    apiName, token, ...(client.timeoutMs !== undefined ? { timeoutMs: client.timeoutMs } : {}),
    ...(call.signal ? { signal: call.signal } : {}), ...(call.clientRequestId ? { clientRequestId: call.clientRequestId } : {}),
    ...(client.onRequest ? { onRequest: client.onRequest } : {}),
  };
}

export interface ApiResponse {
  statusCode: number;
  headers: ReplyHeaders;
  body: string;
}

/**
 * One GET to a message trace API with a bearer token: no automatic retries or redirects (the
 * worker decides), the body as text (validated by the caller). A failure before any response
 * (reset, timeout, DNS) is a retryable ThirdPartyGeneric error.
 */
export async function apiGet(url: string, o: ApiGetOptions): Promise<ApiResponse> {
  const started = performance.now();
  try {
    const reply = await send(url, {
      method: 'GET',
      headers: {
        authorization: `Bearer ${o.token}`,
        accept: 'application/json',
        'client-request-id': o.clientRequestId ?? randomUUID(),
      },
      timeoutMs: o.timeoutMs ?? 300_000,
      ...(o.signal ? { signal: o.signal } : {}),
    }, (code, cause) => (networkCauseOf(code)
      ? networkFailure(o.apiName, url, code, cause)
      : thirdPartyGeneric(`${o.apiName} request to ${safeOrigin(url)} failed before a response arrived (${code}).`, { code, cause })));
    o.onRequest?.({ statusCode: reply.status, durationMs: performance.now() - started });
    return { statusCode: reply.status, headers: reply.headers, body: reply.body };
  } catch (err) {
    o.onRequest?.({ statusCode: undefined, durationMs: performance.now() - started });
    throw err;
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the endpoint';
  }
}

/** A bearer token for `scope`; token endpoint failures become typed errors (shared/api/graph/client.ts classifyTokenError). */
export async function bearerToken(credential: TokenCredential, scope: string, classify: (err: unknown) => CollectorError): Promise<string> {
  try {
    const token = await credential.getToken(scope);
    if (!token) throw new Error('the credential returned no token');
    return token.token;
  } catch (err) {
    if (err instanceof CollectorError) throw err;
    throw classify(err);
  }
}

/**
 * The bearer token only ever goes to the configured API origin: a continuation link that points
 * anywhere else (or is not a URL) is a corrupt link and is not followed.
 */
export function checkApiUrl(url: string, origin: string, what: { apiName: string; link: string; endpoint: string }, isContinuation: boolean): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw thirdPartyGeneric(`${what.apiName} returned a ${what.link} that is not an absolute URL.`, { code: 'CorruptNextLink', excerpt: excerptOf(url, 120) });
  }
  if (parsed.origin !== origin) {
    throw thirdPartyGeneric(
      `${what.apiName} returned a ${what.link} for ${parsed.origin}, not the configured ${what.endpoint} ${origin}; it was not followed, so the token was not sent there.`,
      { code: isContinuation ? 'CorruptNextLink' : 'BadUrl', retryable: isContinuation },
    );
  }
}

/**
 * A 200 answer's body as JSON, or the error that says what came instead: an HTML page (a sign-in
 * page or a proxy's, which passes) or a truncated or corrupt body. `htmlNote` adds what is known
 * about that API's HTML answers to the message.
 */
export function parseJsonBody(body: string, statusCode: number, apiName: string, htmlNote = ''): unknown {
  try {
    return JSON.parse(body);
  } catch {
    const looksHtml = looksLikeHtml(body);
    throw thirdPartyGeneric(
      looksHtml ? `${apiName} answered with an HTML page instead of JSON (status ${statusCode}${htmlNote}).` : `${apiName} answered with a body that is not valid JSON (truncated or corrupt).`,
      { code: looksHtml ? 'HtmlInsteadOfJson' : 'InvalidJson', statusCode, excerpt: excerptOf(body) },
    );
  }
}
