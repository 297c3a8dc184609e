/**
 * The page spill: when a destination fails, the page's events wait in a blob, so the retry sends
 * exactly what the healthy destinations got, without another API request (every request costs the
 * tenant budget). Deleted once the page is recorded done.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import type { TraceEvent } from '../model/row';

export interface SpilledPage {
  v: 1;
  page: number;
  nextLink?: string;
  boundaryKeys: string[];
  oldestMs: number;
  fetched: number;
  events: TraceEvent[];
  /** Seen-store records to write when the page is recorded (settle re-reads). */
  seenWrites?: { bucket: number; keys: string[]; fps: string[] }[];
}

function blobName(sourceId: string, sliceId: string, page: number): string {
  return `${sourceId}/${sliceId}/p${page}.json.gz`;
}

export async function writeSpill(container: ContainerClient, sourceId: string, sliceId: string, data: SpilledPage): Promise<void> {
  const body = gzipSync(Buffer.from(JSON.stringify(data), 'utf8'));
  await container.getBlockBlobClient(blobName(sourceId, sliceId, data.page)).upload(body, body.length, {
    blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'gzip' },
  });
}

export async function readSpill(container: ContainerClient, sourceId: string, sliceId: string, page: number): Promise<SpilledPage | undefined> {
  try {
    const buf = await container.getBlockBlobClient(blobName(sourceId, sliceId, page)).downloadToBuffer();
    const data = JSON.parse(gunzipSync(buf).toString('utf8')) as SpilledPage;
    return data.v === 1 && data.page === page ? data : undefined;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

export async function deleteSpill(container: ContainerClient, sourceId: string, sliceId: string, page: number): Promise<void> {
  await container.getBlockBlobClient(blobName(sourceId, sliceId, page)).deleteIfExists();
}
