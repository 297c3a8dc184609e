/** Reading HTTP request bodies safely: a size limit (413) and JSON that names what is wrong (400). */
import type { ApiResponse } from './backfill';

export const MAX_BODY_BYTES = 16 * 1024;

export async function readJsonBody(
  request: { headers: { get(name: string): string | null }; text(): Promise<string> },
  maxBytes = MAX_BODY_BYTES,
): Promise<{ ok: true; value: unknown } | { ok: false; response: ApiResponse }> {
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
