/**
 * The one place that loads `got`. got is ESM-only and this project compiles to CommonJS (see the
 * README's development section), so it is loaded with a dynamic import, once.
 */
import { randomUUID } from 'node:crypto';
import type { Got } from 'got' with { 'resolution-mode': 'import' };
import { thirdPartyGeneric } from '../errors';

let gotPromise: Promise<Got> | undefined;

export function loadGot(): Promise<Got> {
  gotPromise ??= import('got').then((m) => m.default);
  return gotPromise;
}

export interface ApiGetOptions {
  /** The API name for error texts: "Graph", "RWS". */
  apiName: string;
  token: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  clientRequestId?: string;
  onRequest?: (info: { statusCode: number | undefined; durationMs: number }) => void;
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
    const code = (err as { code?: string }).code ?? 'NetworkError';
    throw thirdPartyGeneric(`${o.apiName} request failed before a response arrived (${code}).`, { code, cause: err });
  }
}
