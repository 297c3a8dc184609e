/** The API clients' GET: token, timeout, error classification. got is loaded by ./got.ts. */
import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { CollectorError, excerptOf, thirdPartyGeneric } from '../errors';
import { loadGot } from './got';
import { errorCodeOf, networkCauseOf, networkFailure } from './network';

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

/** A response header's first value (`name` in any case). */
export function responseHeader(headers: ApiResponse['headers'], name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One GET to a message trace API with a bearer token: no automatic retries or redirects (the
 * worker decides), the body as text (validated by the caller). A failure before any response
 * (reset, timeout, DNS) is a retryable ThirdPartyGeneric error.
 */
export async function apiGet(url: string, o: ApiGetOptions): Promise<ApiResponse> {
  const got = await loadGot();
  const started = performance.now();
  try {
    const response = await got(url, {
      method: 'GET',
      headers: {
        authorization: `Bearer ${o.token}`,
        accept: 'application/json',
        'client-request-id': o.clientRequestId ?? randomUUID(),
      },
      timeout: { request: o.timeoutMs ?? 300_000 },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'text',
      ...(o.signal ? { signal: o.signal } : {}),
    });
    o.onRequest?.({ statusCode: response.statusCode, durationMs: performance.now() - started });
    return { statusCode: response.statusCode, headers: response.headers as Record<string, string | string[] | undefined>, body: response.body };
  } catch (err) {
    o.onRequest?.({ statusCode: undefined, durationMs: performance.now() - started });
    const code = errorCodeOf(err) ?? 'NetworkError';
    if (networkCauseOf(code)) throw networkFailure(o.apiName, url, code, err);
    throw thirdPartyGeneric(`${o.apiName} request to ${safeOrigin(url)} failed before a response arrived (${code}).`, { code, cause: err });
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the endpoint';
  }
}

/** A bearer token for `scope`; token endpoint failures become typed errors (shared/api/graph-client.ts classifyTokenError). */
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
