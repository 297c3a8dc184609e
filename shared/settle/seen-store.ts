/**
 * The seen-store: for each settle bucket still settling, a compact record of the row keys
 * collected in it and a fingerprint of their mutable fields (status, size, toIP). Re-reads compare
 * against it to forward only late rows and changed rows. Dropped once the bucket settles.
 *
 * Layout: table `<prefix>seen`, one partition per source and bucket (`<sourceId>~<bucketStart>`),
 * one entity per page that wrote rows into the bucket, its RowKey the writer: `L-…-p<n>` (live
 * pages) and `R<k>-…-p<n>` (level-k re-read pages, holding only new and changed rows). The
 * gzipped record is in bounded binary chunks (shared/state/chunked.ts); a larger one (never for
 * 5000 rows of hashed keys and fingerprints, but bounded all the same) is a blob of container
 * `<prefix>seen` the entity names. A level-k re-read merges live and levels < k, later levels
 * overriding earlier ones. Names are deterministic, so a page redone after a crash overwrites its
 * own record instead of adding one. A table write costs about a hundredth of a blob write.
 *
 * Records of earlier versions (blobs `<sourceId>/<bucketStart>/<writer>.json.gz`) are still
 * merged and dropped.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { odata, type TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { pad15 } from '../state/ledger';
import { fitsInEntity, fromChunks, toChunks, type ChunkedFields } from '../state/chunked';
import { isStatus } from '../state/storage';
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

interface SeenEntity extends ChunkedFields {
  partitionKey: string;
  rowKey: string;
  /** The blob that holds the record when it does not fit in the entity (chunks 0). */
  blob?: string;
}

export class SeenStore {
  constructor(readonly table: TableClient, readonly container: ContainerClient) {}

  private static partition(sourceId: string, bucketStart: number): string {
    return `${sourceId}~${pad15(bucketStart)}`;
  }

  /** Writes (or overwrites) one page's record. Returns its gzipped size. */
  async write(sourceId: string, bucketStart: number, writer: string, record: SeenRecord): Promise<number> {
    const body = gzipSync(Buffer.from(JSON.stringify(record), 'utf8'));
    const keys = { partitionKey: SeenStore.partition(sourceId, bucketStart), rowKey: writer };
    let entity: SeenEntity;
    if (fitsInEntity(body)) {
      entity = { ...keys, ...toChunks(body) };
    } else {
      const blob = `${folder(sourceId, bucketStart)}${writer}.json.gz`;
      await this.container.getBlockBlobClient(blob).upload(body, body.length);
      entity = { ...keys, bytes: body.length, chunks: 0, blob };
    }
    await this.table.upsertEntity(entity, 'Replace');
    return body.length;
  }

  /**
   * The merged fingerprints of a bucket as a level-`level` re-read must see them: live pages and
   * re-reads of lower levels (never its own level, so a redone page does not hide its own rows).
   */
  async load(sourceId: string, bucketStart: number, level: number): Promise<Map<string, string>> {
    const found: { writer: string; level: number; read: () => Promise<Buffer> }[] = [];
    const what = (writer: string) => `the seen-store record ${writer} of bucket ${new Date(bucketStart).toISOString()}`;
    const partition = SeenStore.partition(sourceId, bucketStart);
    for await (const e of this.table.listEntities<SeenEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partition}` } })) {
      const l = levelOf(e.rowKey!);
      if (l === undefined || l >= level) continue;
      found.push({ writer: e.rowKey!, level: l, read: async () => (e.blob ? this.container.getBlockBlobClient(e.blob).downloadToBuffer() : fromChunks(e, what(e.rowKey!))) });
    }
    // Records an earlier version wrote as blobs (none once its buckets have settled).
    const prefix = folder(sourceId, bucketStart);
    const inTable = new Set(found.map((f) => f.writer));
    for await (const b of this.container.listBlobsFlat({ prefix })) {
      const writer = b.name.slice(prefix.length).replace(/\.json\.gz$/, '');
      const l = levelOf(writer);
      if (l !== undefined && l < level && !inTable.has(writer)) found.push({ writer, level: l, read: () => this.container.getBlockBlobClient(b.name).downloadToBuffer() });
    }
    found.sort((a, b) => a.level - b.level || a.writer.localeCompare(b.writer));
    const records = await Promise.all(found.map(async (f) => JSON.parse(gunzipSync(await f.read()).toString('utf8')) as SeenRecord));
    const map = new Map<string, string>();
    for (const r of records) r.keys.forEach((k, i) => map.set(k, r.fps[i]!));
    return map;
  }

  /** Drops a settled bucket's records. Returns the bytes they held (for the storage-cost figure). */
  async drop(sourceId: string, bucketStart: number): Promise<number> {
    let bytes = 0;
    const partition = SeenStore.partition(sourceId, bucketStart);
    const rows: string[] = [];
    const named = new Set<string>();
    for await (const e of this.table.listEntities<SeenEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partition}`, select: ['RowKey', 'bytes', 'blob'] } })) {
      rows.push(e.rowKey!);
      bytes += Number(e.bytes) || 0;
      if (e.blob) named.add(e.blob);
    }
    // One partition: deletes go in transactions of up to 100.
    for (let i = 0; i < rows.length; i += 100) {
      const batch = rows.slice(i, i + 100);
      try {
        await this.table.submitTransaction(batch.map((rowKey) => ['delete', { partitionKey: partition, rowKey }]));
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
        for (const rowKey of batch) await this.table.deleteEntity(partition, rowKey).catch((e: unknown) => { if (!isStatus(e, 404)) throw e; });
      }
    }
    for await (const b of this.container.listBlobsFlat({ prefix: folder(sourceId, bucketStart) })) {
      if (!named.has(b.name)) bytes += b.properties.contentLength ?? 0;
      await this.container.getBlockBlobClient(b.name).deleteIfExists();
    }
    return bytes;
  }
}
