/**
 * The page store: every fetched page that has rows to deliver is persisted (gzip JSON blob in the
 * `<prefix>spill` container) BEFORE the first destination send, and every later delivery, retry
 * or resume reads that copy, never a new fetch (ARCHITECTURE invariant 8: the API's answer for the
 * same request changes over time, so a page fetched again after a partial delivery would skip or
 * repeat rows).
 *
 * A page copy is written once: a conditional create (If-None-Match: *). When two workers raced to
 * persist the same page (a claim that expired under a slow worker), the loser adopts the winner's
 * copy, so every destination receives the same rows in the same order.
 *
 * The copy also carries what the next request of the slice needs (the continuation and the keys
 * at the page's oldest instant, for boundary repeats). When those are too large for a Table
 * property (a 100K-character nextLink; 5000 recipients of one message in one millisecond), the
 * slice row points to this copy (`carryPage`) instead of holding them (invariant 9). A copy is
 * deleted once the page is recorded and no later page points to it.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import type { TraceEvent } from '../model/row';

export interface StoredPage {
  v: 2;
  page: number;
  /** The continuation for the next page (absent on the last page). */
  nextLink?: string;
  /** Hashed keys of the rows at the page's oldest instant (boundary repeats on the next page). */
  boundaryKeys: string[];
  oldestMs: number;
  /** Rows the API returned (before the slice and boundary filters). */
  fetched: number;
  /** The events to deliver, in order: a destination's partial mark is an index into this list. */
  events: TraceEvent[];
  /** Seen-store records to write once every destination has acknowledged the page (settle). */
  seenWrites?: { bucket: number; keys: string[]; fps: string[] }[];
}

export function pageBlobName(sourceId: string, sliceId: string, page: number): string {
  return `${sourceId}/${sliceId}/p${page}.json.gz`;
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/**
 * Persists a page unless a copy exists already; returns the copy that is now authoritative
 * (this one, or the one another worker wrote first).
 */
export async function persistPage(container: ContainerClient, sourceId: string, sliceId: string, data: StoredPage): Promise<StoredPage> {
  const body = gzipSync(Buffer.from(JSON.stringify(data), 'utf8'));
  try {
    await container.getBlockBlobClient(pageBlobName(sourceId, sliceId, data.page)).upload(body, body.length, {
      blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'gzip' },
      conditions: { ifNoneMatch: '*' },
    });
    return data;
  } catch (err) {
    if (statusOf(err) !== 409 && statusOf(err) !== 412) throw err;
    const existing = await readPage(container, sourceId, sliceId, data.page);
    if (!existing) throw err;
    return existing;
  }
}

export async function readPage(container: ContainerClient, sourceId: string, sliceId: string, page: number): Promise<StoredPage | undefined> {
  let buf: Buffer;
  try {
    buf = await container.getBlockBlobClient(pageBlobName(sourceId, sliceId, page)).downloadToBuffer();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
  const data = JSON.parse(gunzipSync(buf).toString('utf8')) as Omit<StoredPage, 'v'> & { v: number };
  // v1: the page spill of earlier versions (same fields), written for a destination retry.
  if ((data.v !== 2 && data.v !== 1) || data.page !== page || !Array.isArray(data.events)) {
    throw new Error(`the stored copy of page ${page} of slice ${sliceId} is not a page copy this version can read`);
  }
  return { ...data, v: 2, boundaryKeys: data.boundaryKeys ?? [] };
}

export async function deletePage(container: ContainerClient, sourceId: string, sliceId: string, page: number): Promise<void> {
  await container.getBlockBlobClient(pageBlobName(sourceId, sliceId, page)).deleteIfExists();
}
