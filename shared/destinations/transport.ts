/**
 * The destinations' side of the one HTTP layer (shared/outbound-http.ts): one request (no retries:
 * the worker retries per destination), and the classification of a failed response as retryable
 * or permanent. Error texts never contain a URL (some embed a token) or a header value.
 */
import { retryAfterSeconds, send, type OutboundReply, type ReplyHeaders } from '../outbound-http';
import { CollectorError, excerptOf, firstPartyGeneric } from '../errors';

export interface HttpReply {
  status: number;
  body: string;
  headers: ReplyHeaders;
}

export interface PostOptions {
  method?: 'POST' | 'GET' | 'PUT';
  body?: Buffer | string;
  headers: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Sends one request; a network failure becomes a retryable CollectorError naming the destination. */
export function httpRequest(destinationId: string, url: string, opts: PostOptions): Promise<OutboundReply> {
  return send(url, { ...opts, method: opts.method ?? 'POST' }, (code, cause) => firstPartyGeneric(`Destination ${destinationId} could not be reached (${code}).`, { code, cause }));
}

/**
 * The generic rule: 408, 429 and 5xx are retryable; 401/403 mean the credential is wrong (permanent,
 * with a fix); 413 means the batch is too large (permanent: lower maxBatchBytes); other 4xx are permanent.
 */
export function httpFailure(destinationId: string, reply: HttpReply, fixes: { auth?: string; tooLarge?: string } = {}): CollectorError {
  const status = reply.status;
  const excerpt = excerptOf(reply.body);
  const retryAfterSec = retryAfterSeconds(reply.headers);
  const base = { statusCode: status, excerpt, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) };
  if (status === 401 || status === 403) {
    return firstPartyGeneric(`Destination ${destinationId} rejected our credential (${status}).`, {
      ...base, code: 'DestinationAuthFailed', retryable: false,
      fix: fixes.auth ?? 'Check the secret the destination\'s credential reference points to.',
    });
  }
  if (status === 413) {
    return firstPartyGeneric(`Destination ${destinationId} rejected a batch as too large (413).`, {
      ...base, code: 'PayloadTooLarge', retryable: false,
      fix: fixes.tooLarge ?? 'Lower "maxBatchBytes" (or "maxBatchRecords") on this destination.',
    });
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  return firstPartyGeneric(`Destination ${destinationId} answered ${status}.`, { ...base, code: `Http${status}`, retryable });
}

/** Joins a base URL and a path without doubling slashes; keeps a path the user already wrote. */
export function joinUrl(base: string, path: string): string {
  const u = new URL(base);
  if (u.pathname.replace(/\/+$/, '').endsWith(path.replace(/\/+$/, ''))) return u.href;
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  return u.href;
}
