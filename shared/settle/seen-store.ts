/**
 * The seen-store: for each settle bucket still settling, a compact record of the row keys
 * collected in it and a fingerprint of their mutable fields (status, size, toIP). Re-reads compare
 * against it to forward only late rows and changed rows. Dropped once the bucket settles.
 *
 * Layout: blobs `<sourceId>/<bucketStart>/<writer>.json.gz` in container `<prefix>seen`, one per
 * page that wrote rows into the bucket: `L-…-p<n>` (live pages) and `R<k>-…-p<n>` (level-k
 * re-read pages, holding only new and changed rows). A level-k re-read merges live and levels < k,
 * later levels overriding earlier ones. Names are deterministic, so a page redone after a crash
 * overwrites its own record instead of adding one.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import { pad15 } from '../state/ledger';
import type { MessageTraceRow } from '../model/row';

export interface SeenRecord {
  keys: string[];
  fps: string[];
}

/** The fingerprint of a row's mutable fields. */
export function fingerprint(row: Pick<MessageTraceRow, 'status' | 'size' | 'toIP'>): string {
  return `${String(row.status ?? '').toLowerCase()}|${row.size ?? ''}|${row.toIP ?? ''}`;
}

export function parseFingerprint(fp: string): { status: string; size: number | undefined; toIP: string } {
  const [status = '', size = '', toIP = ''] = fp.split('|');
  return { status, size: size === '' ? undefined : Number(size), toIP };
}

export function bucketOf(ms: number, bucketMs: number): number {
  return Math.floor(ms / bucketMs) * bucketMs;
}

function folder(sourceId: string, bucketStart: number): string {
  return `${sourceId}/${pad15(bucketStart)}/`;
}

/** The level of a writer: -1 for live pages, k for level-k re-reads; undefined for other blobs. */
function levelOf(writer: string): number | undefined {
  if (writer.startsWith('L-')) return -1;
  const m = /^R(\d+)-/.exec(writer);
  return m ? Number(m[1]) : undefined;
}

export async function writeSeen(container: ContainerClient, sourceId: string, bucketStart: number, writer: string, record: SeenRecord): Promise<number> {
  const body = gzipSync(Buffer.from(JSON.stringify(record), 'utf8'));
  await container.getBlockBlobClient(`${folder(sourceId, bucketStart)}${writer}.json.gz`).upload(body, body.length);
  return body.length;
}

/**
 * The merged fingerprints of a bucket as a level-`level` re-read must see them: live pages and
 * re-reads of lower levels (never its own level, so a redone page does not hide its own rows).
 */
export async function loadSeen(container: ContainerClient, sourceId: string, bucketStart: number, level: number): Promise<Map<string, string>> {
  const blobs: { name: string; level: number }[] = [];
  const prefix = folder(sourceId, bucketStart);
  for await (const b of container.listBlobsFlat({ prefix })) {
    const writer = b.name.slice(prefix.length).replace(/\.json\.gz$/, '');
    const l = levelOf(writer);
    if (l !== undefined && l < level) blobs.push({ name: b.name, level: l });
  }
  blobs.sort((a, b) => a.level - b.level || a.name.localeCompare(b.name));
  const records = await Promise.all(blobs.map(async (b) => JSON.parse(gunzipSync(await container.getBlockBlobClient(b.name).downloadToBuffer()).toString('utf8')) as SeenRecord));
  const map = new Map<string, string>();
  for (const r of records) r.keys.forEach((k, i) => map.set(k, r.fps[i]!));
  return map;
}

/** Drops a settled bucket's record. Returns the bytes it held (for the storage-cost figure). */
export async function dropSeen(container: ContainerClient, sourceId: string, bucketStart: number): Promise<number> {
  let bytes = 0;
  for await (const b of container.listBlobsFlat({ prefix: folder(sourceId, bucketStart) })) {
    bytes += b.properties.contentLength ?? 0;
    await container.getBlockBlobClient(b.name).deleteIfExists();
  }
  return bytes;
}
