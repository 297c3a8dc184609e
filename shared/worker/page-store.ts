/**
 * The page store: every fetched page that has rows to deliver is persisted BEFORE the first
 * destination send, and every later delivery, retry or resume reads that copy, never a new fetch
 * (ARCHITECTURE invariant 8: the API's answer for the same request changes over time, so a page
 * fetched again after a partial delivery would skip or repeat rows).
 *
 * Where a copy lives: an entity of the `<prefix>pages` table (PartitionKey the source, RowKey
 * `<slice id>~p<page>`) holds the gzipped JSON in binary properties (shared/state/chunked.ts:
 * 12 of at most 60 KiB, bounded under the 1 MiB entity limit, invariant 9). A
 * larger copy goes to a blob of the `<prefix>spill` container, written first under a name of its
 * own writer, and the entity holds its name. A table write costs about a hundredth of a blob write
 * (docs/cost.md), and a quiet tenant's page is a few KB.
 *
 * A page copy is written once: the entity is a conditional create, the one arbiter of which copy
 * is authoritative. When two workers raced to persist the same page (a claim that expired under a
 * slow worker), the loser deletes its own blob if it wrote one and adopts the winner's copy, so
 * every destination receives the same rows in the same order.
 *
 * The copy also carries what the next request of the slice needs (the continuation and the keys
 * at the page's oldest instant, for boundary repeats). When those are too large for a Table
 * property (a 100K-character nextLink; 5000 recipients of one message in one millisecond), the
 * slice row points to this copy (`carryPage`) instead of holding them (invariant 9). A copy is
 * deleted once the page is recorded and no later page points to it.
 *
 * A small copy (a quiet tenant's page) is not written here at all: the claim holder keeps it in
 * the slice row (SliceRow.copy, `keepCopy`), a write the page needs anyway in place of this store's
 * create and delete, and the commit that records the page drops it (issue 19). The claim's
 * compare-and-swap is then the arbiter: a holder whose claim lapsed cannot write its copy, and a
 * taker finds the copy in the row it claims.
 *
 * Copies written by earlier versions (one blob per page, `<source>/<slice>/p<page>.json.gz`) are
 * still read, and deleted, where no entity exists.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import type { TraceEvent } from '../model/row';
import { isStatus } from '../state/storage';
import { CHUNK_BYTES, INLINE_CHUNKS, fitsInEntity, fromChunks, toChunks, type ChunkedFields } from '../state/chunked';

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
  /** Seen-store records of the page's rows (settle), written before its first send (stages/commit.ts learnPage). */
  seenWrites?: { bucket: number; keys: string[]; fps: string[] }[];
}

/** A page copy as read or written, and where its bytes are (to delete it without a read). */
export interface PageCopy {
  data: StoredPage;
  /** The blob that holds the bytes (a large copy, or one an earlier version wrote); none: the entity holds them. */
  blob?: string;
  /** The copy is in the slice row (small; SliceRow.copy): the commit drops it, nothing to delete. */
  inline?: true;
}

/** A small page copy as the slice row keeps it (SliceRow.copy): gzip JSON as base64. */
export function encodeInlineCopy(data: StoredPage): string {
  return gzipSync(Buffer.from(JSON.stringify(data), 'utf8')).toString('base64');
}

/** The copy of page `page` the slice row keeps, or undefined when it keeps none for that page. */
export function inlineCopyOf(slice: { id: string; copy?: string; copyPage?: number }, page: number): PageCopy | undefined {
  if (!slice.copy || slice.copyPage !== page) return undefined;
  return { data: parse(Buffer.from(slice.copy, 'base64'), slice.id, page), inline: true };
}

/** Bounds of a copy held in the entity (shared/state/chunked.ts). */
export const PAGE_CHUNK_BYTES = CHUNK_BYTES;
export const PAGE_INLINE_CHUNKS = INLINE_CHUNKS;

/** The blob name of a page copy written by earlier versions. */
export function pageBlobName(sourceId: string, sliceId: string, page: number): string {
  return `${sourceId}/${sliceId}/p${page}.json.gz`;
}

interface PageEntity extends ChunkedFields {
  partitionKey: string;
  rowKey: string;
  /** The copy's format (2: StoredPage v2 as gzip JSON). */
  format: number;
  /** The blob that holds the bytes when they do not fit in the entity (chunks 0). */
  blob?: string;
}

function parse(buf: Buffer, sliceId: string, page: number): StoredPage {
  const data = JSON.parse(gunzipSync(buf).toString('utf8')) as Omit<StoredPage, 'v'> & { v: number };
  // v1: the page spill of earlier versions (same fields), written for a destination retry.
  if ((data.v !== 2 && data.v !== 1) || data.page !== page || !Array.isArray(data.events)) {
    throw new Error(`the stored copy of page ${page} of slice ${sliceId} is not a page copy this version can read`);
  }
  return { ...data, v: 2, boundaryKeys: data.boundaryKeys ?? [] };
}

export class PageStore {
  constructor(readonly table: TableClient, readonly container: ContainerClient) {}

  static tableName(prefix: string): string {
    return `${prefix}pages`;
  }

  private static rowKey(sliceId: string, page: number): string {
    return `${sliceId}~p${page}`;
  }

  /**
   * Persists a page unless a copy exists already; returns the copy that is now authoritative
   * (this one, or the one another worker wrote first).
   */
  async persist(sourceId: string, sliceId: string, data: StoredPage): Promise<PageCopy> {
    const body = gzipSync(Buffer.from(JSON.stringify(data), 'utf8'));
    const keys = { partitionKey: sourceId, rowKey: PageStore.rowKey(sliceId, data.page), format: 2 };
    const entity: PageEntity = fitsInEntity(body) ? { ...keys, ...toChunks(body) } : { ...keys, bytes: body.length, chunks: 0 };
    let blob: string | undefined;
    if (!fitsInEntity(body)) {
      // This writer's own blob: a racing writer's bytes never land under the name the winner's entity holds.
      blob = `${sourceId}/${sliceId}/p${data.page}-${randomUUID()}.json.gz`;
      await this.container.getBlockBlobClient(blob).upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'gzip' },
      });
      entity.blob = blob;
    }
    try {
      await this.table.createEntity(entity);
      return { data, ...(blob ? { blob } : {}) };
    } catch (err) {
      // Another error leaves this writer's blob in place: the create may have landed unanswered.
      if (!isStatus(err, 409)) throw err;
      const existing = await this.read(sourceId, sliceId, data.page);
      if (!existing) throw err;
      // A 409 on a create retried after its answer was lost is this writer's own entity.
      if (blob && existing.blob !== blob) await this.container.getBlockBlobClient(blob).deleteIfExists();
      return existing;
    }
  }

  async read(sourceId: string, sliceId: string, page: number): Promise<PageCopy | undefined> {
    let entity: PageEntity;
    try {
      entity = await this.table.getEntity<PageEntity>(sourceId, PageStore.rowKey(sliceId, page));
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      const legacy = pageBlobName(sourceId, sliceId, page);
      const buf = await this.download(legacy);
      return buf ? { data: parse(buf, sliceId, page), blob: legacy } : undefined;
    }
    if (Number(entity.format) !== 2) throw new Error(`the stored copy of page ${page} of slice ${sliceId} has format ${String(entity.format)}, which this version cannot read`);
    if (entity.blob) {
      const buf = await this.download(entity.blob);
      if (!buf) throw new Error(`the stored copy of page ${page} of slice ${sliceId} points to blob ${entity.blob}, which is missing`);
      return { data: parse(buf, sliceId, page), blob: entity.blob };
    }
    return { data: parse(fromChunks(entity, `the stored copy of page ${page} of slice ${sliceId}`), sliceId, page) };
  }

  /**
   * Deletes a copy. `known` is where it was when this worker wrote or read it (no read needed);
   * without it the entity is read first to find a blob it points to.
   */
  async delete(sourceId: string, sliceId: string, page: number, known?: { blob?: string }): Promise<void> {
    let blob = known?.blob;
    if (!known) {
      try {
        const e = await this.table.getEntity<PageEntity>(sourceId, PageStore.rowKey(sliceId, page), { queryOptions: { select: ['blob'] } });
        blob = e.blob || undefined;
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
        blob = pageBlobName(sourceId, sliceId, page);
      }
    }
    try {
      await this.table.deleteEntity(sourceId, PageStore.rowKey(sliceId, page));
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    if (blob) await this.container.getBlockBlobClient(blob).deleteIfExists();
  }

  private async download(name: string): Promise<Buffer | undefined> {
    try {
      return await this.container.getBlockBlobClient(name).downloadToBuffer();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }
}
