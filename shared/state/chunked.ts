/**
 * Bytes held in a Table entity as binary properties `c0 .. c<n-1>` of at most CHUNK_BYTES each,
 * at most INLINE_CHUNKS of them: bounded under the Table service's 64 KiB property and 1 MiB
 * entity limits (ARCHITECTURE invariant 9). Larger values go to a blob the entity names (the
 * callers: shared/worker/page-store.ts, shared/settle/seen-store.ts).
 */

/** Bytes of one binary property: under the Table service's 64 KiB property limit. */
export const CHUNK_BYTES = 60 * 1024;
/** Chunks an entity holds at most: 720 KiB, under the 1 MiB entity limit with its names and keys. */
export const INLINE_CHUNKS = 12;

export interface ChunkedFields {
  /** Bytes in all. */
  bytes: number;
  /** Chunks in the entity; 0 when a blob holds the bytes. */
  chunks: number;
  [chunk: `c${number}`]: Uint8Array;
}

export function fitsInEntity(body: Uint8Array): boolean {
  return body.length <= CHUNK_BYTES * INLINE_CHUNKS;
}

/** The chunk properties of `body` (which must fit: fitsInEntity). */
export function toChunks(body: Buffer): ChunkedFields {
  if (!fitsInEntity(body)) throw new RangeError(`${body.length} bytes do not fit in ${INLINE_CHUNKS} chunks of ${CHUNK_BYTES}`);
  const fields: ChunkedFields = { bytes: body.length, chunks: Math.ceil(body.length / CHUNK_BYTES) };
  for (let i = 0; i < fields.chunks; i++) fields[`c${i}`] = body.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
  return fields;
}

/** The bytes an entity's chunks hold; `what` names the value in the error when a part is missing or short. */
export function fromChunks(entity: object, what: string): Buffer {
  const e = entity as Record<string, unknown>;
  const n = Number(e.chunks);
  const parts = Array.from({ length: Number.isInteger(n) && n >= 0 ? n : 0 }, (_, i) => e[`c${i}`]);
  if (!Number.isInteger(n) || n < 0 || parts.some((c) => !(c instanceof Uint8Array))) throw new Error(`${what} is missing a part`);
  const buf = Buffer.concat(parts as Uint8Array[]);
  if (buf.length !== Number(e.bytes)) throw new Error(`${what} holds ${buf.length} bytes where it recorded ${String(e.bytes)}`);
  return buf;
}
