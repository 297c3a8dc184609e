/**
 * The detail records (issue 17): one per (row key, status) of a qualifying row, in table
 * `<prefix>details`, PartitionKey = source id, RowKey = `<receivedMs, 15 digits>~<row key>~<status>`:
 * deterministic (a settle re-read or a redelivered page makes the same key, so a conditional
 * create never makes a second record; a status change makes a new one) and in time order (the
 * sweep and the pruning read key ranges, never a scan filtered on a non-key property).
 *
 * The same partition holds per-source bookkeeping under keys that sort after every record key
 * ('~' follows the digits): `~day~<YYYY-MM-DD>` (the day's counters: requests, the cap), `~sweep`
 * (the oldest unfinished record, for the sweep) and `~parked~<record key>` (an index of parked
 * records: replay and status find them without a scan).
 *
 * Every property is bounded (invariant 9): the record's payload (the trace row and, once fetched,
 * the detail answer) is kept inline while it is well under a Table property's 32K characters, else
 * in a gzip blob of container `<prefix>details` the record points to.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import type { MessageTraceDetail, MessageTraceRow } from '../model/row';
import { isStatus, type StorageClients } from '../state/storage';

export type DetailState = 'pending' | 'fetching' | 'done' | 'parked' | 'skipped';
export type DetailSkipReason = 'cap' | 'retention';

/** A record without its payload (what a key-range listing returns). */
export interface DetailSummary {
  sourceId: string;
  key: string;
  receivedMs: number;
  rowKey: string;
  status: string;
  state: DetailState;
  skipReason: '' | DetailSkipReason;
  /** Why it is parked: permanent, horizon, config, poison, destination:<id>. */
  parkReason: string;
  /** When the trace row was recorded (its page committed): the start of its detail latency. */
  collectedAt: number;
  /** How the row was collected: live, backfill or rescan. */
  collectedBy: string;
  fetchedAt: number;
  requests: number;
  eventCount: number;
  /** Per destination: how many of the record's detail events it acknowledged (all of them: delivered). */
  marks: Record<string, number>;
  attempts: number;
  firstAttemptAt: number;
  claimOwner: string;
  claimUntil: number;
  /** When the record's job is due, when it was sent with a long delay (a budget ticket, a retry); 0: now. */
  nextAt: number;
  lastError: string;
  payloadBlob: string;
  autoReplays: number;
  parkedAt: number;
  doneAt: number;
  createdAt: number;
  updatedAt: number;
  etag: string;
}

/** The record's payload: the trace row it explains and, once fetched, the detail answer. */
export interface DetailPayload {
  row: MessageTraceRow;
  /** The complete answer (every page of it), persisted before the first send (invariant 8). */
  answer?: MessageTraceDetail[];
  /** An answer still being paged: the events so far and the next link. */
  partial?: { details: MessageTraceDetail[]; nextLink: string };
}

export type DetailRecord = DetailSummary & DetailPayload;

/** A payload up to this many characters stays in the record; a longer one goes to a blob. */
export const MAX_INLINE_PAYLOAD_CHARS = 24_000;
/** Any other string property of a record stays below this (the guard turns a bug into a clear error). */
const MAX_PROPERTY_CHARS = 30_000;

/** Counters of one source and UTC day. */
export interface DetailDay {
  day: string;
  /** Detail requests sent (the daily cap counts these; counted before each request). */
  requests: number;
  skippedCap: number;
  skippedRetention: number;
  done: number;
  parked: number;
  /** Detail events delivered (to every destination). */
  events: number;
  etag?: string;
}

export interface DetailSweepMark {
  /** Every record before this receivedMs is finished (done, skipped or parked). */
  pendingFrom: number;
  etag?: string;
}

const PAD = 15;
export const DAY_PREFIX = '~day~';
const SWEEP_KEY = '~sweep';
export const PARKED_PREFIX = '~parked~';

export function detailRecordKey(receivedMs: number, rowKey: string, status: string): string {
  return `${String(Math.max(0, Math.floor(receivedMs))).padStart(PAD, '0')}~${rowKey}~${status}`;
}

/** The first RowKey of records received at or after `ms`. */
export function detailKeyAt(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(PAD, '0');
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

type Entity = Record<string, unknown> & { partitionKey?: string; rowKey?: string; etag?: string };

function bounded(key: string, name: string, value: string): string {
  if (value.length > MAX_PROPERTY_CHARS) {
    throw new Error(`detail record ${key}: property ${name} has ${value.length} characters, more than a Table property holds (${MAX_PROPERTY_CHARS}); this is a bug: such a value belongs in a blob the record points to`);
  }
  return value;
}

function json<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string' || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function toSummary(e: Entity): DetailSummary {
  return {
    sourceId: String(e.partitionKey),
    key: String(e.rowKey),
    receivedMs: Number(e.receivedMs ?? 0),
    rowKey: String(e.rowKeyOfRow ?? ''),
    status: String(e.status ?? ''),
    state: String(e.state ?? 'pending') as DetailState,
    skipReason: String(e.skipReason ?? '') as DetailSummary['skipReason'],
    parkReason: String(e.parkReason ?? ''),
    collectedAt: Number(e.collectedAt ?? 0),
    collectedBy: String(e.collectedBy ?? ''),
    fetchedAt: Number(e.fetchedAt ?? 0),
    requests: Number(e.requests ?? 0),
    eventCount: Number(e.eventCount ?? 0),
    marks: json<Record<string, number>>(e.marks, {}),
    attempts: Number(e.attempts ?? 0),
    firstAttemptAt: Number(e.firstAttemptAt ?? 0),
    claimOwner: String(e.claimOwner ?? ''),
    claimUntil: Number(e.claimUntil ?? 0),
    nextAt: Number(e.nextAt ?? 0),
    lastError: String(e.lastError ?? ''),
    payloadBlob: String(e.payloadBlob ?? ''),
    autoReplays: Number(e.autoReplays ?? 0),
    parkedAt: Number(e.parkedAt ?? 0),
    doneAt: Number(e.doneAt ?? 0),
    createdAt: Number(e.createdAt ?? 0),
    updatedAt: Number(e.updatedAt ?? 0),
    etag: String(e.etag ?? ''),
  };
}

function summaryEntity(r: Omit<DetailSummary, 'etag'>): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  return {
    partitionKey: r.sourceId, rowKey: r.key,
    receivedMs: r.receivedMs, rowKeyOfRow: r.rowKey, status: r.status, state: r.state, skipReason: r.skipReason, parkReason: r.parkReason,
    collectedAt: r.collectedAt, collectedBy: r.collectedBy, fetchedAt: r.fetchedAt, requests: r.requests, eventCount: r.eventCount,
    marks: bounded(r.key, 'marks', JSON.stringify(r.marks)), attempts: r.attempts, firstAttemptAt: r.firstAttemptAt,
    claimOwner: r.claimOwner, claimUntil: r.claimUntil, nextAt: r.nextAt, lastError: bounded(r.key, 'lastError', r.lastError),
    payloadBlob: r.payloadBlob, autoReplays: r.autoReplays, parkedAt: r.parkedAt, doneAt: r.doneAt, createdAt: r.createdAt, updatedAt: r.updatedAt,
  };
}

/** A new record of a qualifying row, at its start values. */
export function newDetailRecord(fields: Pick<DetailRecord, 'sourceId' | 'receivedMs' | 'rowKey' | 'status' | 'collectedAt' | 'collectedBy' | 'row'>, now: number, start: { state?: 'pending' | 'skipped'; skipReason?: DetailSkipReason } = {}): Omit<DetailRecord, 'etag'> {
  return {
    ...fields, key: detailRecordKey(fields.receivedMs, fields.rowKey, fields.status),
    state: start.state ?? 'pending', skipReason: start.skipReason ?? '', parkReason: '', fetchedAt: 0, requests: 0, eventCount: 0, marks: {},
    attempts: 0, firstAttemptAt: 0, claimOwner: '', claimUntil: 0, nextAt: 0, lastError: '', payloadBlob: '', autoReplays: 0,
    parkedAt: 0, doneAt: start.state === 'skipped' ? now : 0, createdAt: now, updatedAt: now,
  };
}

function payloadOf(r: DetailPayload): DetailPayload {
  return { row: r.row, ...(r.answer ? { answer: r.answer } : {}), ...(r.partial ? { partial: r.partial } : {}) };
}

export class DetailStore {
  readonly table: TableClient;
  readonly container: ContainerClient;
  constructor(storage: StorageClients, readonly prefix: string) {
    this.table = storage.table(DetailStore.tableName(prefix));
    this.container = storage.container(DetailStore.containerName(prefix));
  }

  static tableName(prefix: string): string {
    return `${prefix}details`;
  }

  static containerName(prefix: string): string {
    return `${prefix}details`;
  }

  // ---- records ------------------------------------------------------------------------------

  /** The entity of a record, its payload inline or (too large) in a new blob the entity points to. */
  private async entityOf(r: Omit<DetailRecord, 'etag'>): Promise<Record<string, unknown> & { partitionKey: string; rowKey: string }> {
    const text = JSON.stringify(payloadOf(r));
    if (text.length <= MAX_INLINE_PAYLOAD_CHARS) return { ...summaryEntity({ ...r, payloadBlob: '' }), payload: text };
    // A new blob name per write: a slower worker that lost its claim can never overwrite the copy another one points to.
    const name = `${r.sourceId}/${r.key}/${randomUUID()}.json.gz`;
    const body = gzipSync(Buffer.from(text, 'utf8'));
    await this.container.getBlockBlobClient(name).upload(body, body.length, { blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'gzip' } });
    return { ...summaryEntity({ ...r, payloadBlob: name }), payload: '' };
  }

  /**
   * Creates records by conditional create, in transactions of at most 100 (one partition). Returns
   * the keys created and the keys that existed already (a redelivered page, a settle re-read).
   */
  async createRecords(records: Omit<DetailRecord, 'etag'>[]): Promise<{ created: string[]; existing: string[] }> {
    const created: string[] = [];
    const existing: string[] = [];
    for (let i = 0; i < records.length; i += 100) {
      const batch = records.slice(i, i + 100);
      const entities = await Promise.all(batch.map((r) => this.entityOf(r)));
      try {
        await this.table.submitTransaction(entities.map((e): TransactionAction => ['create', e]));
        created.push(...batch.map((r) => r.key));
        continue;
      } catch (err) {
        // One existing record fails the whole transaction: create them one by one.
        if (!isStatus(err, 409) && !(err as { code?: string }).code?.includes('EntityAlreadyExists')) throw err;
      }
      for (const e of entities) {
        try {
          await this.table.createEntity(e);
          created.push(e.rowKey);
        } catch (err) {
          if (!isStatus(err, 409)) throw err;
          existing.push(e.rowKey);
        }
      }
    }
    return { created, existing };
  }

  /** A record with its payload, or undefined. */
  async get(sourceId: string, key: string): Promise<DetailRecord | undefined> {
    let e: Entity;
    try {
      e = await this.table.getEntity<Entity>(sourceId, key);
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
    const summary = toSummary(e);
    let text = String(e.payload ?? '');
    if (summary.payloadBlob) text = gunzipSync(await this.container.getBlockBlobClient(summary.payloadBlob).downloadToBuffer()).toString('utf8');
    const payload = JSON.parse(text || '{}') as DetailPayload;
    return { ...summary, ...payload };
  }

  /** Replaces the record if its ETag still matches: the new record, or undefined on a lost race. */
  async swap(r: DetailRecord): Promise<DetailRecord | undefined> {
    const entity = await this.entityOf(r);
    try {
      const res = await this.table.updateEntity(entity, 'Replace', { etag: r.etag });
      if (r.payloadBlob && r.payloadBlob !== entity.payloadBlob) await this.deleteBlob(r.payloadBlob);
      return { ...r, payloadBlob: String(entity.payloadBlob), etag: res.etag ?? '' };
    } catch (err) {
      if (entity.payloadBlob && entity.payloadBlob !== r.payloadBlob) await this.deleteBlob(String(entity.payloadBlob));
      if (isStatus(err, 412) || isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  private async deleteBlob(name: string): Promise<void> {
    await this.container.getBlockBlobClient(name).deleteIfExists().catch(() => undefined);
  }

  /** Records received in [fromMs, toMs), oldest first, without their payload; at most `max`. */
  async *listRange(sourceId: string, fromMs: number, toMs: number, max = Number.POSITIVE_INFINITY): AsyncGenerator<DetailSummary> {
    if (toMs <= fromMs) return;
    const filter = `PartitionKey eq '${esc(sourceId)}' and RowKey ge '${detailKeyAt(fromMs)}' and RowKey lt '${detailKeyAt(toMs)}'`;
    let n = 0;
    for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter, select: SUMMARY_FIELDS } })) {
      yield toSummary(e);
      if (++n >= max) return;
    }
  }

  /** Deletes a record and its blob (pruning). */
  async deleteRecords(sourceId: string, records: Pick<DetailSummary, 'key' | 'payloadBlob'>[]): Promise<void> {
    for (let i = 0; i < records.length; i += 100) {
      const batch = records.slice(i, i + 100);
      try {
        await this.table.submitTransaction(batch.map((r): TransactionAction => ['delete', { partitionKey: sourceId, rowKey: r.key }]));
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
        for (const r of batch) await this.table.deleteEntity(sourceId, r.key).catch((e: unknown) => { if (!isStatus(e, 404)) throw e; });
      }
      for (const r of batch) if (r.payloadBlob) await this.deleteBlob(r.payloadBlob);
    }
  }

  // ---- the day's counters ---------------------------------------------------------------------

  async getDay(sourceId: string, day: string): Promise<DetailDay> {
    try {
      const e = await this.table.getEntity<Entity>(sourceId, `${DAY_PREFIX}${day}`);
      return {
        day, requests: Number(e.requests ?? 0), skippedCap: Number(e.skippedCap ?? 0), skippedRetention: Number(e.skippedRetention ?? 0),
        done: Number(e.done ?? 0), parked: Number(e.parked ?? 0), events: Number(e.events ?? 0), etag: String(e.etag),
      };
    } catch (err) {
      if (isStatus(err, 404)) return { day, requests: 0, skippedCap: 0, skippedRetention: 0, done: 0, parked: 0, events: 0 };
      throw err;
    }
  }

  /**
   * Adds to the day's counters by compare-and-swap. With `cap`, `requests` is added only while the
   * day stays at or under the cap: false when it would pass it (nothing is written then).
   */
  async addToDay(sourceId: string, day: string, add: Partial<Omit<DetailDay, 'day' | 'etag'>>, cap?: number): Promise<boolean> {
    for (let attempt = 0; attempt < 16; attempt++) {
      const d = await this.getDay(sourceId, day);
      if (cap !== undefined && d.requests + (add.requests ?? 0) > cap) return false;
      const next = {
        partitionKey: sourceId, rowKey: `${DAY_PREFIX}${day}`,
        requests: d.requests + (add.requests ?? 0), skippedCap: d.skippedCap + (add.skippedCap ?? 0), skippedRetention: d.skippedRetention + (add.skippedRetention ?? 0),
        done: d.done + (add.done ?? 0), parked: d.parked + (add.parked ?? 0), events: d.events + (add.events ?? 0),
      };
      try {
        if (d.etag === undefined) await this.table.createEntity(next);
        else await this.table.updateEntity(next, 'Replace', { etag: d.etag });
        return true;
      } catch (err) {
        if (isStatus(err, 409) || isStatus(err, 412)) continue;
        throw err;
      }
    }
    throw new Error(`the detail counters of source ${sourceId} for ${day} could not be updated after 16 compare-and-swap attempts`);
  }

  /** The counter entities of days in [fromDay, toDay] (strings YYYY-MM-DD). */
  async listDays(sourceId: string, fromDay: string, toDay: string): Promise<DetailDay[]> {
    const out: DetailDay[] = [];
    const filter = `PartitionKey eq '${esc(sourceId)}' and RowKey ge '${DAY_PREFIX}${fromDay}' and RowKey le '${DAY_PREFIX}${toDay}'`;
    for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter } })) {
      out.push({
        day: String(e.rowKey).slice(DAY_PREFIX.length), requests: Number(e.requests ?? 0), skippedCap: Number(e.skippedCap ?? 0),
        skippedRetention: Number(e.skippedRetention ?? 0), done: Number(e.done ?? 0), parked: Number(e.parked ?? 0), events: Number(e.events ?? 0), etag: String(e.etag),
      });
    }
    return out;
  }

  async deleteDaysBefore(sourceId: string, day: string): Promise<number> {
    const filter = `PartitionKey eq '${esc(sourceId)}' and RowKey ge '${DAY_PREFIX}' and RowKey lt '${DAY_PREFIX}${day}'`;
    let n = 0;
    for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter } })) {
      await this.table.deleteEntity(sourceId, String(e.rowKey)).catch(() => undefined);
      n++;
    }
    return n;
  }

  // ---- the sweep's mark ---------------------------------------------------------------------

  async getSweepMark(sourceId: string): Promise<DetailSweepMark | undefined> {
    try {
      const e = await this.table.getEntity<Entity>(sourceId, SWEEP_KEY);
      return { pendingFrom: Number(e.pendingFrom ?? 0), etag: String(e.etag) };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /**
   * Moves `pendingFrom` down to `ms` (admission, before it creates records received then), or
   * creates the mark there. Compare-and-swap: a sweep moving it up meanwhile re-reads.
   */
  async lowerPendingFrom(sourceId: string, ms: number): Promise<void> {
    for (let attempt = 0; attempt < 16; attempt++) {
      const m = await this.getSweepMark(sourceId);
      if (m && m.pendingFrom <= ms) return;
      try {
        if (!m) await this.table.createEntity({ partitionKey: sourceId, rowKey: SWEEP_KEY, pendingFrom: ms });
        else await this.table.updateEntity({ partitionKey: sourceId, rowKey: SWEEP_KEY, pendingFrom: ms }, 'Replace', { etag: m.etag! });
        return;
      } catch (err) {
        if (isStatus(err, 409) || isStatus(err, 412)) continue;
        throw err;
      }
    }
    throw new Error(`the detail sweep mark of source ${sourceId} could not be moved after 16 compare-and-swap attempts`);
  }

  /** Moves `pendingFrom` up to `ms` if the mark is still the one read (the sweep); false on a lost race. */
  async raisePendingFrom(sourceId: string, mark: DetailSweepMark, ms: number): Promise<boolean> {
    if (ms <= mark.pendingFrom || !mark.etag) return true;
    try {
      await this.table.updateEntity({ partitionKey: sourceId, rowKey: SWEEP_KEY, pendingFrom: ms }, 'Replace', { etag: mark.etag });
      return true;
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) return false;
      throw err;
    }
  }

  // ---- the parked index ---------------------------------------------------------------------

  async markParked(sourceId: string, key: string, at: number): Promise<void> {
    await this.table.upsertEntity({ partitionKey: sourceId, rowKey: `${PARKED_PREFIX}${key}`, at }, 'Replace');
  }

  async unmarkParked(sourceId: string, key: string): Promise<void> {
    await this.table.deleteEntity(sourceId, `${PARKED_PREFIX}${key}`).catch((err: unknown) => { if (!isStatus(err, 404)) throw err; });
  }

  /** Keys of parked records (the index), oldest received first, at most `max`. */
  async listParked(sourceId: string, max = Number.POSITIVE_INFINITY): Promise<string[]> {
    const out: string[] = [];
    const filter = `PartitionKey eq '${esc(sourceId)}' and RowKey ge '${PARKED_PREFIX}' and RowKey lt '${PARKED_PREFIX}~'`;
    for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter, select: ['RowKey'] } })) {
      out.push(String(e.rowKey).slice(PARKED_PREFIX.length));
      if (out.length >= max) break;
    }
    return out;
  }
}

/** The properties a listing reads (the payload stays behind). */
const SUMMARY_FIELDS = [
  'PartitionKey', 'RowKey', 'receivedMs', 'rowKeyOfRow', 'status', 'state', 'skipReason', 'parkReason', 'collectedAt', 'collectedBy', 'fetchedAt',
  'requests', 'eventCount', 'marks', 'attempts', 'firstAttemptAt', 'claimOwner', 'claimUntil', 'nextAt', 'lastError', 'payloadBlob', 'autoReplays',
  'parkedAt', 'doneAt', 'createdAt', 'updatedAt',
];

function esc(s: string): string {
  return s.replace(/'/g, "''");
}
