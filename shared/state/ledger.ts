/**
 * The state in Table Storage: the planning cursor, the slice ledger, backfill runs and health.
 * One partition per source. The cursor moves only by compare-and-swap (ETag If-Match).
 *
 * Tables (prefix from MTC_TABLE_PREFIX, default `mtc`): <p>cursors, <p>slices, <p>runs, <p>health.
 */
import type { TableClient } from '@azure/data-tables';
import type { StorageClients } from './storage';
import { isStatus } from './storage';

export type SliceKind = 'live' | 'backfill' | 'rescan';
export type SliceState = 'pending' | 'fetching' | 'done' | 'parked';

/** A planned slice not yet confirmed enqueued: the outbox, kept inside the cursor row. */
export interface PendingSlice {
  id: string;
  startMs: number;
  endMs: number;
  /** Default live. */
  kind?: SliceKind;
  /** A re-read that is not needed (the live read came after its age): recorded done, no job. */
  skip?: boolean;
  /** A live range older than the API's history: recorded done as a gap (expired-history), no job. */
  gap?: boolean;
}

/**
 * Most slices one planning run may put in the outbox. With the compact encoding below an entry
 * takes at most ~30 characters, so a full outbox stays under 8K characters (invariant 9).
 */
export const MAX_OUTBOX_SLICES = 240;

/**
 * The outbox as a compact string: `<code><start base36>+<length base36>[s|g]` joined by `;`, where
 * code is L (live) or R<k> (re-read level k), and s marks a skipped re-read, g a history gap. The
 * ids are derived from the fields, as the planner derives them.
 */
export function encodeOutbox(pending: PendingSlice[]): string {
  if (pending.length > MAX_OUTBOX_SLICES) throw new Error(`the planner's outbox holds at most ${MAX_OUTBOX_SLICES} slices, got ${pending.length}; this is a bug in the planner`);
  return pending.map((p) => {
    const level = p.kind === 'rescan' ? /^R(\d+)-/.exec(p.id)?.[1] : undefined;
    if (p.kind === 'rescan' && level === undefined) throw new Error(`outbox entry ${p.id}: a re-read id starts with R<level>-`);
    const code = p.kind === 'rescan' ? `R${level}` : p.kind === 'backfill' ? undefined : 'L';
    if (!code) throw new Error(`outbox entry ${p.id}: backfill slices are not planned through the outbox`);
    return `${code}${p.startMs.toString(36)}+${(p.endMs - p.startMs).toString(36)}${p.skip ? 's' : ''}${p.gap ? 'g' : ''}`;
  }).join(';');
}

export function decodeOutbox(text: unknown): PendingSlice[] {
  if (typeof text !== 'string' || text === '') return [];
  if (text.startsWith('[')) return json<PendingSlice[]>(text, []); // written by an earlier version
  return text.split(';').map((entry) => {
    const m = /^(L|R(\d+))([0-9a-z]+)\+([0-9a-z]+)(s?)(g?)$/.exec(entry);
    if (!m) throw new Error(`the planner's outbox has an entry it cannot read: ${entry.slice(0, 60)}`);
    const startMs = parseInt(m[3]!, 36);
    const endMs = startMs + parseInt(m[4]!, 36);
    const flags = { ...(m[5] ? { skip: true } : {}), ...(m[6] ? { gap: true } : {}) };
    return m[2] !== undefined
      ? { id: rescanSliceId(Number(m[2]), startMs, endMs), startMs, endMs, kind: 'rescan' as const, ...flags }
      : { id: liveSliceId(startMs, endMs), startMs, endMs, ...flags };
  });
}

export interface CursorRow {
  sourceId: string;
  /** Everything before this instant has been planned into live slices. */
  scheduledUntil: number;
  /** Where collection began. */
  startMs: number;
  pending: PendingSlice[];
  lastPlannedAt: number;
  /** Settle re-reads: per level, buckets before this instant are planned (0 = not started). */
  rescanUntil: number[];
  /** The planner's checkpoint (shared/planning/checkpoint.ts): what it has already read of the ledger. */
  checkpoint?: string;
  /**
   * Non-zero while the source may have backfill runs to resume or finish: set when a run is
   * admitted (hintRuns), cleared by the planner when it finds the run index empty. While it is 0
   * the planner reads the index only with its sweep (issue 19: one read less per planner run).
   * A row written before this existed reads as 1.
   */
  runsHint: number;
  etag: string;
}

export interface DestinationMark {
  /** Pages fully delivered (pages < this number are done for the destination). */
  pagesDone: number;
  /** Rows delivered to this destination in total, for the summary. */
  rows: number;
  /** Within page `pagesDone`: how many events of the page copy were delivered (a partial delivery). */
  partialCount?: number;
  /** Written by earlier versions instead of partialCount: the last event id delivered. */
  partialKey?: string;
  /** Pages of this slice handed to the destination's backlog instead of delivered directly (shared/delivery). */
  handedOff?: number;
}

export interface SliceRow {
  sourceId: string;
  id: string;
  kind: SliceKind;
  runId: string;
  startMs: number;
  endMs: number;
  state: SliceState;
  /** The next page to fetch (0 = the window query). */
  page: number;
  /** The continuation for `page` (empty for page 0). */
  nextLink: string;
  /** Hashed keys of the previous page's rows at its oldest timestamp (page-boundary repeats). */
  boundaryKeys: string[];
  /**
   * When the continuation or the boundary keys were too large for this row (invariant 9), the
   * page whose persisted copy holds them (nextLink and boundaryKeys are then empty); -1 = none.
   */
  carryPage: number;
  rows: number;
  requests: number;
  attempts: number;
  firstAttemptAt: number;
  claimOwner: string;
  claimUntil: number;
  marks: Record<string, DestinationMark>;
  lastError: string;
  /** Consecutive 400s on the current continuation (self-healing pagination). */
  linkFailures: number;
  /** When set (and nextLink is empty, page > 0): re-query [startMs, resumeUntil] instead of a continuation. */
  resumeUntil: number;
  /** The oldest receivedDateTime (ms) received in this slice so far. */
  oldestMs: number;
  /** Why the slice is parked: config, horizon, permanent, poison, schema. */
  parkReason: string;
  parkedAt: number;
  /** Automatic replays after recovery (at most MAX_AUTO_REPLAYS). */
  autoReplays: number;
  /** Delivered to these destinations only (a parked destination's replay); empty: every destination of the source. */
  only: string[];
  /**
   * The persisted copy of page `copyPage` when it is small (gzip JSON as base64, at most
   * MAX_INLINE_COPY_CHARS): written by the claim holder before the page's first send, cleared by
   * the commit that records the page (shared/worker/stages/obtain.ts). Absent: the copy, if any, is
   * in the page store.
   */
  copy?: string;
  copyPage?: number;
  createdAt: number;
  updatedAt: number;
  etag: string;
}

/** A new slice row with every bookkeeping field at its start value. */
export function newSlice(fields: Pick<SliceRow, 'sourceId' | 'id' | 'kind' | 'runId' | 'startMs' | 'endMs'>, now: number): Omit<SliceRow, 'etag'> {
  return {
    ...fields, state: 'pending', page: 0, nextLink: '', boundaryKeys: [], rows: 0, requests: 0, attempts: 0, firstAttemptAt: 0,
    claimOwner: '', claimUntil: 0, marks: {}, lastError: '', linkFailures: 0, resumeUntil: 0, oldestMs: 0, carryPage: -1,
    parkReason: '', parkedAt: 0, autoReplays: 0, only: [], createdAt: now, updatedAt: now,
  };
}

/** Backfill run rows and the index of active runs: shared/state/runs.ts (table <prefix>runs). */

export interface HealthRow {
  sourceId: string;
  state: string;
  stateSince: number;
  completedUntil: number;
  /** Every settle re-read is done for every instant before this. */
  settledUntil: number;
  lastError: string;
  lastErrorAt: number;
  lastSuccessAt: number;
  configHash: string;
  /**
   * Destinations of the source that are behind (lagging or parked, shared/delivery): a hint the
   * page job reads with this row, so it sends a page straight to their backlog without asking
   * their progress rows. Set when one starts lagging, cleared when its backlog is empty.
   */
  behind: string[];
  etag: string;
}

/** A health row from its table entity (properties as stored; missing ones at their defaults). */
/** A cursor row as a point read or a query returns it. */
function cursorFromEntity(sourceId: string, e: Entity): CursorRow {
  return {
    sourceId,
    scheduledUntil: Number(e.scheduledUntil),
    startMs: Number(e.startMs),
    pending: decodeOutbox(e.pending),
    lastPlannedAt: Number(e.lastPlannedAt ?? 0),
    rescanUntil: json<number[]>(e.rescanUntil, []),
    checkpoint: String(e.checkpoint ?? ''),
    runsHint: e.runsHint === undefined ? 1 : Number(e.runsHint) || 0,
    etag: String(e.etag),
  };
}

export function healthFromEntity(sourceId: string, e: Record<string, unknown>): HealthRow {
  return {
    sourceId,
    state: String(e.state ?? 'Pending'),
    stateSince: Number(e.stateSince ?? 0),
    completedUntil: Number(e.completedUntil ?? 0),
    settledUntil: Number(e.settledUntil ?? 0),
    lastError: String(e.lastError ?? ''),
    lastErrorAt: Number(e.lastErrorAt ?? 0),
    lastSuccessAt: Number(e.lastSuccessAt ?? 0),
    configHash: String(e.configHash ?? ''),
    behind: typeof e.behind === 'string' && e.behind ? e.behind.split(',') : [],
    etag: String(e.etag),
  };
}

const PAD = 15;
export function liveSliceId(startMs: number, endMs: number): string {
  return `L-${String(startMs).padStart(PAD, '0')}-${String(endMs).padStart(PAD, '0')}`;
}
export function backfillSliceId(runId: string, startMs: number, endMs: number): string {
  return `B-${runId}-${String(startMs).padStart(PAD, '0')}-${String(endMs).padStart(PAD, '0')}`;
}
/**
 * The fields of a live or re-read slice row that its id names (`L-<start>-<end>`,
 * `R<level>-<start>-<end>`, as liveSliceId and rescanSliceId write them); undefined for any other id.
 */
export function plannedSliceFields(sourceId: string, id: string): Pick<SliceRow, 'sourceId' | 'id' | 'kind' | 'runId' | 'startMs' | 'endMs'> | undefined {
  const m = /^(L|R\d{1,3})-(\d{15})-(\d{15})$/.exec(id);
  if (!m) return undefined;
  const startMs = Number(m[2]), endMs = Number(m[3]);
  if (!Number.isSafeInteger(startMs) || !Number.isSafeInteger(endMs)) return undefined;
  return { sourceId, id, kind: m[1] === 'L' ? 'live' : 'rescan', runId: '', startMs, endMs };
}
export function liveSlicePrefixAt(startMs: number): string {
  return `L-${String(startMs).padStart(PAD, '0')}`;
}
/** Re-read level k of a settle bucket. */
export function rescanSliceId(level: number, startMs: number, endMs: number): string {
  return `R${level}-${String(startMs).padStart(PAD, '0')}-${String(endMs).padStart(PAD, '0')}`;
}
export function rescanPrefixAt(level: number, startMs: number): string {
  return `R${level}-${String(startMs).padStart(PAD, '0')}`;
}
export function pad15(ms: number): string {
  return String(ms).padStart(PAD, '0');
}

function json<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string' || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

type Entity = Record<string, unknown> & { partitionKey?: string; rowKey?: string; etag?: string };
type WriteEntity = Record<string, unknown> & { partitionKey: string; rowKey: string };

function toSlice(e: Entity): SliceRow {
  return {
    sourceId: String(e.partitionKey),
    id: String(e.rowKey),
    kind: e.kind as SliceKind,
    runId: String(e.runId ?? ''),
    startMs: Number(e.startMs),
    endMs: Number(e.endMs),
    state: e.state as SliceState,
    page: Number(e.page ?? 0),
    nextLink: String(e.nextLink ?? ''),
    boundaryKeys: json<string[]>(e.boundaryKeys, []),
    rows: Number(e.rows ?? 0),
    requests: Number(e.requests ?? 0),
    attempts: Number(e.attempts ?? 0),
    firstAttemptAt: Number(e.firstAttemptAt ?? 0),
    claimOwner: String(e.claimOwner ?? ''),
    claimUntil: Number(e.claimUntil ?? 0),
    marks: json<Record<string, DestinationMark>>(e.marks, {}),
    lastError: String(e.lastError ?? ''),
    linkFailures: Number(e.linkFailures ?? 0),
    resumeUntil: Number(e.resumeUntil ?? 0),
    oldestMs: Number(e.oldestMs ?? 0),
    carryPage: Number(e.carryPage ?? -1),
    parkReason: String(e.parkReason ?? ''),
    parkedAt: Number(e.parkedAt ?? 0),
    autoReplays: Number(e.autoReplays ?? 0),
    only: typeof e.only === 'string' && e.only ? e.only.split(',') : [],
    ...(typeof e.copy === 'string' && e.copy ? { copy: e.copy, copyPage: Number(e.copyPage ?? -1) } : {}),
    createdAt: Number(e.createdAt ?? 0),
    updatedAt: Number(e.updatedAt ?? 0),
    etag: String(e.etag ?? ''),
  };
}

/**
 * Largest string a slice row may hold in one property, in characters (Azure Tables: 32K
 * characters, 64 KB). The writers keep every value far below it (ARCHITECTURE invariant 9);
 * this guard turns a bug into a clear error before the service rejects the row.
 */
export const MAX_PROPERTY_CHARS = 30_000;

function bounded(sliceId: string, name: string, value: string): string {
  if (value.length > MAX_PROPERTY_CHARS) {
    throw new Error(`slice ${sliceId}: property ${name} has ${value.length} characters, more than a Table property holds (${MAX_PROPERTY_CHARS}); this is a bug: such a value belongs in a blob the row points to`);
  }
  return value;
}

function fromSlice(s: Omit<SliceRow, 'etag'>): WriteEntity {
  return {
    partitionKey: s.sourceId,
    rowKey: s.id,
    kind: s.kind,
    runId: s.runId,
    startMs: s.startMs,
    endMs: s.endMs,
    state: s.state,
    page: s.page,
    nextLink: bounded(s.id, 'nextLink', s.nextLink),
    boundaryKeys: bounded(s.id, 'boundaryKeys', JSON.stringify(s.boundaryKeys)),
    rows: s.rows,
    requests: s.requests,
    attempts: s.attempts,
    firstAttemptAt: s.firstAttemptAt,
    claimOwner: s.claimOwner,
    claimUntil: s.claimUntil,
    marks: bounded(s.id, 'marks', JSON.stringify(s.marks)),
    lastError: bounded(s.id, 'lastError', s.lastError),
    linkFailures: s.linkFailures,
    resumeUntil: s.resumeUntil,
    oldestMs: s.oldestMs,
    carryPage: s.carryPage,
    parkReason: s.parkReason,
    parkedAt: s.parkedAt,
    autoReplays: s.autoReplays,
    ...(s.only.length ? { only: bounded(s.id, 'only', s.only.join(',')) } : {}),
    ...(s.copy ? { copy: bounded(s.id, 'copy', s.copy), copyPage: s.copyPage ?? -1 } : {}),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

export class Ledger {
  readonly cursors: TableClient;
  readonly slices: TableClient;
  readonly runs: TableClient;
  readonly health: TableClient;
  constructor(storage: StorageClients, readonly prefix = 'mtc') {
    this.cursors = storage.table(`${prefix}cursors`);
    this.slices = storage.table(`${prefix}slices`);
    this.runs = storage.table(`${prefix}runs`);
    this.health = storage.table(`${prefix}health`);
  }

  tableNames(): string[] {
    return [`${this.prefix}cursors`, `${this.prefix}slices`, `${this.prefix}runs`, `${this.prefix}health`];
  }

  // ---- cursor -------------------------------------------------------------------------------

  async getCursor(sourceId: string): Promise<CursorRow | undefined> {
    try {
      return cursorFromEntity(sourceId, await this.cursors.getEntity<Entity>(sourceId, 'cursor'));
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /**
   * Every source's cursor, by one query over the table (one request per 1000 rows, not one per
   * source): the planner's timer run reads them all at once (shared/planning/prefetch.ts). The
   * filter names the row key only, so no property is scanned for.
   */
  async *listCursors(): AsyncGenerator<CursorRow> {
    for await (const e of this.cursors.listEntities<Entity>({ queryOptions: { filter: "RowKey eq 'cursor'" } })) {
      yield cursorFromEntity(String(e.partitionKey), e);
    }
  }

  /**
   * A backfill run was admitted: the planner reads the run index again (CursorRow.runsHint). An
   * unconditional merge of that one property (it changes the ETag, so a planner that read the
   * cursor before loses its swap and plans again). No cursor yet: nothing to do (a new cursor
   * starts with the hint set).
   */
  async hintRuns(sourceId: string, now: number): Promise<void> {
    try {
      await this.cursors.updateEntity({ partitionKey: sourceId, rowKey: 'cursor', runsHint: Math.max(1, now) }, 'Merge');
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
  }

  /** Creates the cursor; returns false when another planner created it first. */
  /**
   * Creates the cursor of a new source; returns it as created (the planner needs no second read),
   * or undefined when another planner created it first (409).
   */
  async createCursor(sourceId: string, startMs: number, now: number): Promise<CursorRow | undefined> {
    try {
      const r = await this.cursors.createEntity({ partitionKey: sourceId, rowKey: 'cursor', scheduledUntil: startMs, startMs, pending: '', lastPlannedAt: now, runsHint: 1 });
      if (!r.etag) return await this.getCursor(sourceId);
      return { sourceId, scheduledUntil: startMs, startMs, pending: [], lastPlannedAt: now, rescanUntil: [], checkpoint: '', runsHint: 1, etag: r.etag };
    } catch (err) {
      if (isStatus(err, 409)) return undefined;
      throw err;
    }
  }

  /** Compare-and-swap on the cursor. Returns the new etag, or undefined when someone else changed it (412). */
  async swapCursor(c: CursorRow, patch: Partial<Pick<CursorRow, 'scheduledUntil' | 'pending' | 'lastPlannedAt' | 'rescanUntil' | 'checkpoint' | 'runsHint'>>): Promise<string | undefined> {
    const entity: WriteEntity = { partitionKey: c.sourceId, rowKey: 'cursor' };
    if (patch.runsHint !== undefined) entity.runsHint = patch.runsHint;
    if (patch.scheduledUntil !== undefined) entity.scheduledUntil = patch.scheduledUntil;
    if (patch.pending !== undefined) entity.pending = encodeOutbox(patch.pending);
    if (patch.lastPlannedAt !== undefined) entity.lastPlannedAt = patch.lastPlannedAt;
    if (patch.rescanUntil !== undefined) entity.rescanUntil = JSON.stringify(patch.rescanUntil);
    if (patch.checkpoint !== undefined) entity.checkpoint = patch.checkpoint;
    try {
      const r = await this.cursors.updateEntity(entity, 'Merge', { etag: c.etag });
      return r.etag ?? '';
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  // ---- slices -------------------------------------------------------------------------------

  /** Writes a new slice row; an existing row with the same id is left as it is (idempotent). */
  async createSlice(s: Omit<SliceRow, 'etag'>): Promise<boolean> {
    return (await this.createSliceTagged(s)) !== undefined;
  }

  /** createSlice, with the new row's ETag ('' when the service sent none); undefined when the row existed. */
  async createSliceTagged(s: Omit<SliceRow, 'etag'>): Promise<string | undefined> {
    try {
      return (await this.slices.createEntity(fromSlice(s))).etag ?? '';
    } catch (err) {
      if (isStatus(err, 409)) return undefined;
      throw err;
    }
  }

  async getSlice(sourceId: string, sliceId: string): Promise<SliceRow | undefined> {
    try {
      return toSlice(await this.slices.getEntity<Entity>(sourceId, sliceId));
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Replaces the slice if its etag still matches. Returns the new row, or undefined on a lost race. */
  async swapSlice(s: SliceRow): Promise<SliceRow | undefined> {
    try {
      const r = await this.slices.updateEntity(fromSlice(s), 'Replace', { etag: s.etag });
      return { ...s, etag: r.etag ?? '' };
    } catch (err) {
      if (isStatus(err, 412)) return undefined;
      throw err;
    }
  }

  async *listSlices(sourceId: string, opts: { fromRowKey?: string; toRowKey?: string; state?: SliceState } = {}): AsyncGenerator<SliceRow> {
    const parts = [`PartitionKey eq '${esc(sourceId)}'`];
    if (opts.state) parts.push(`state eq '${esc(opts.state)}'`);
    if (opts.fromRowKey) parts.push(`RowKey ge '${esc(opts.fromRowKey)}'`);
    if (opts.toRowKey) parts.push(`RowKey lt '${esc(opts.toRowKey)}'`);
    for await (const e of this.slices.listEntities<Entity>({ queryOptions: { filter: parts.join(' and ') } })) {
      yield toSlice(e);
    }
  }

  // ---- health -------------------------------------------------------------------------------

  async getHealth(sourceId: string): Promise<HealthRow | undefined> {
    try {
      return healthFromEntity(sourceId, await this.health.getEntity<Entity>(sourceId, 'health'));
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Every source's health row, by one query over the table (as listCursors). */
  async *listHealth(): AsyncGenerator<HealthRow> {
    for await (const e of this.health.listEntities<Entity>({ queryOptions: { filter: "RowKey eq 'health'" } })) {
      yield healthFromEntity(String(e.partitionKey), e);
    }
  }

  /**
   * The health rows of these sources, by one query (a page batch's sources: at most
   * MAX_PAGE_BATCH, so the filter stays short); a source with no row is not in the answer.
   */
  async *listHealthOf(sourceIds: readonly string[]): AsyncGenerator<HealthRow> {
    if (!sourceIds.length) return;
    const sources = sourceIds.map((id) => `PartitionKey eq '${esc(id)}'`).join(' or ');
    for await (const e of this.health.listEntities<Entity>({ queryOptions: { filter: `RowKey eq 'health' and (${sources})` } })) {
      yield healthFromEntity(String(e.partitionKey), e);
    }
  }

  /** Merges health fields (last writer wins except completedUntil, which only moves forward via advanceWatermark). */
  async mergeHealth(sourceId: string, patch: Partial<Omit<HealthRow, 'sourceId' | 'etag' | 'behind'>>): Promise<void> {
    await this.health.upsertEntity({ partitionKey: sourceId, rowKey: 'health', ...patch }, 'Merge');
  }

  /** Adds or removes a destination from the health row's `behind` hint, by compare-and-swap (a no-op when it is so already). */
  async markBehind(sourceId: string, destination: string, behind: boolean): Promise<void> {
    for (let attempt = 0; attempt < 12; attempt++) {
      const h = await this.getHealth(sourceId);
      const has = h?.behind.includes(destination) ?? false;
      if (has === behind) return;
      const next = behind ? [...(h?.behind ?? []), destination] : (h?.behind ?? []).filter((d) => d !== destination);
      try {
        if (!h) await this.health.createEntity({ partitionKey: sourceId, rowKey: 'health', behind: next.join(',') });
        else await this.health.updateEntity({ partitionKey: sourceId, rowKey: 'health', behind: next.join(',') }, 'Merge', { etag: h.etag });
        return;
      } catch (err) {
        if (isStatus(err, 412) || isStatus(err, 409)) continue;
        throw err;
      }
    }
  }

  /** Moves settledUntil forward by compare-and-swap; never backwards. */
  async advanceSettled(sourceId: string, to: number): Promise<number> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const h = await this.getHealth(sourceId);
      if (!h) return 0;
      if (h.settledUntil >= to) return h.settledUntil;
      try {
        await this.health.updateEntity({ partitionKey: sourceId, rowKey: 'health', settledUntil: to }, 'Merge', { etag: h.etag });
        return to;
      } catch (err) {
        if (isStatus(err, 412)) continue;
        throw err;
      }
    }
    return (await this.getHealth(sourceId))?.settledUntil ?? 0;
  }

  /** Moves completedUntil forward by compare-and-swap; never backwards. */
  async advanceWatermark(sourceId: string, to: number): Promise<number> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const h = await this.getHealth(sourceId);
      if (!h) {
        try {
          await this.health.createEntity({ partitionKey: sourceId, rowKey: 'health', completedUntil: to, state: 'Collecting', stateSince: 0 });
          return to;
        } catch (err) {
          if (isStatus(err, 409)) continue;
          throw err;
        }
      }
      if (h.completedUntil >= to) return h.completedUntil;
      try {
        await this.health.updateEntity({ partitionKey: sourceId, rowKey: 'health', completedUntil: to }, 'Merge', { etag: h.etag });
        return to;
      } catch (err) {
        if (isStatus(err, 412)) continue;
        throw err;
      }
    }
    return (await this.getHealth(sourceId))?.completedUntil ?? 0;
  }
}

function esc(s: string): string {
  return s.replace(/'/g, "''");
}
