/**
 * Reading HTTP request bodies safely: a JSON content type (415), a size limit (413) and JSON that
 * names what is wrong (400). The Functions host and the local host (local/http-server.ts) both
 * hand the request's headers to the function unchanged, so the same check applies to both.
 */
import type { ApiResponse } from './backfill';

export const MAX_BODY_BYTES = 16 * 1024;

export async function readJsonBody(
  request: { headers: { get(name: string): string | null }; text(): Promise<string> },
  maxBytes = MAX_BODY_BYTES,
): Promise<{ ok: true; value: unknown } | { ok: false; response: ApiResponse }> {
  const type = request.headers.get('content-type');
  if (!isJsonContentType(type)) return { ok: false, response: unsupportedType(type) };
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) return { ok: false, response: tooLarge(maxBytes) };
  const text = await request.text();
  if (Buffer.byteLength(text) > maxBytes) return { ok: false, response: tooLarge(maxBytes) };
  if (!text.trim()) {
    return { ok: false, response: { status: 400, body: { error: 'BadRequest', field: 'body', message: 'the request body is empty; send JSON such as {"start": "-2d", "end": "-1d"}' } } };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, response: { status: 400, body: { error: 'BadRequest', field: 'body', message: `the request body is not valid JSON (${(err as Error).message}); send JSON such as {"start": "-2d", "end": "-1d"}` } } };
  }
}

function tooLarge(maxBytes: number): ApiResponse {
  return { status: 413, body: { error: 'PayloadTooLarge', field: 'body', message: `the request body is larger than ${maxBytes} bytes` } };
}

/** `application/json` or a `+json` type (`application/merge-patch+json`), with any parameters (charset). */
export function isJsonContentType(value: string | null): boolean {
  if (!value) return false;
  const essence = value.split(';')[0]!.trim().toLowerCase();
  return essence === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(essence);
}

function unsupportedType(value: string | null): ApiResponse {
  const given = value ? value.split(';')[0]!.trim().slice(0, 80).replace(/[^\x20-\x7e]/g, '?') : '';
  return {
    status: 415,
    body: {
      error: 'UnsupportedMediaType', field: 'content-type',
      message: `${given ? `the request body is sent as "${given}"` : 'the request has no Content-Type header'}; send it as application/json (header "Content-Type: application/json")`,
    },
  };
}
