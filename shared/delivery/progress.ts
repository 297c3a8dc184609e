/**
 * A destination's own progress, per source (ARCHITECTURE invariant 11: destinations are independent).
 *
 * The page worker hands every page (and every detail job its events) to each destination at once;
 * a destination that fails, or is already behind, gets the events in its **backlog** instead: a
 * persisted copy of its own (blob) plus an entry (Table row), and the slice moves on for everyone.
 * The destination's **drain** job (shared/delivery/drain.ts) delivers its backlog in order while
 * the healthy destinations never wait for it.
 *
 * Table `<prefix>backlog`, one partition per (source, destination) (`<source>~<destination>`):
 *
 * - the **progress row** (RowKey `!progress`): `ok` (nothing waiting, pages go straight to the
 *   destination), `lagging` (a backlog waits; new pages join it without a direct attempt), or
 *   `parked` (the backlog passed the destination's limit: nothing more is stored, what is missed is
 *   recorded as time ranges and re-collected for this destination alone on replay). It also holds
 *   the drain's lease and retry bookkeeping, and counters of what waits (pages, events, bytes, the
 *   oldest entry's time), which every hand-off raises and every drain pass recounts exactly.
 * - one **entry** per waiting unit (RowKey `u~<unit>`, in order): a page `<slice id>~p<page>` or a
 *   detail unit. Its blob (container `<prefix>backlog`, `<source>/<destination>/<unit>.json.gz`)
 *   holds the events still owed, in order; `delivered` is an index into them (a partial delivery
 *   resumes exactly, the copy is immutable).
 *
 * Every change of the progress row is a named pure transition below, written by compare-and-swap.
 * Bounded (invariant 9): the progress row holds numbers, a clipped error (4K characters) and at most
 * 2 x MAX_MISSED_RANGES ranges (under 20 characters each: under 7K characters in all); an entry
 * holds numbers and a clipped error.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import type { TraceEvent } from '../model/row';
import { isStatus } from '../state/storage';
import type { BacklogLimits } from '../destinations/config-common';

export type ProgressState = 'ok' | 'lagging' | 'parked';

export interface DestinationProgress {
  sourceId: string;
  destination: string;
  state: ProgressState;
  /** When the destination began lagging (or was parked); 0 when ok. */
  since: number;
  /** What waits in the backlog (raised by hand-offs, recounted by each drain pass). */
  pages: number;
  events: number;
  bytes: number;
  /** When the oldest waiting entry was handed off (0: none). */
  oldestAt: number;
  /** Entries parked on their own (a permanent error for that unit only); replayable. */
  parkedEntries: number;
  /** The drain's lease. */
  claimOwner: string;
  claimUntil: number;
  /** Consecutive failed drain attempts, and when the next may run. */
  attempts: number;
  nextAttemptAt: number;
  lastError: string;
  lastErrorAt: number;
  lastDeliveredAt: number;
  /** Events the drain delivered from the backlog in all (for summaries; direct deliveries are in the slices' marks). */
  drainedEvents: number;
  /** Why the destination is parked: `limit:pages`, `limit:bytes`, `limit:age` or `config`. */
  parkReason: string;
  parkedAt: number;
  /** While parked: the time ranges of the units it missed (merged, at most MAX_MISSED_RANGES). */
  missed: MissedRange[];
  missedUnits: number;
  missedEvents: number;
  /**
   * After a replay resumed the destination: the missed ranges whose re-collection (a backfill run
   * for this destination alone) is not admitted yet; emptied once it is. `resumedAt` names the
   * replay (its run id derives from it, so a repeated or interrupted replay admits the same run).
   */
  replaying: MissedRange[];
  resumedAt: number;
  etag: string;
}

export interface MissedRange { startMs: number; endMs: number }


/** Missed ranges kept while parked; beyond it the two closest merge (never a loss, at worst a replay re-sends more). */
export const MAX_MISSED_RANGES = 64;

export const PROGRESS_KEY = '!progress';
export const ENTRY_PREFIX = 'u~';

export function partitionOf(sourceId: string, destination: string): string {
  return `${sourceId}~${destination}`;
}

/** A page's unit id (sorts by slice, then page). */
export function pageUnit(sliceId: string, page: number): string {
  return `${sliceId}~p${String(page).padStart(7, '0')}`;
}

/** The slice and page a page unit names; undefined for other units. */
export function parsePageUnit(unit: string): { sliceId: string; page: number } | undefined {
  const m = /^(.+)~p(\d{7})$/.exec(unit);
  return m ? { sliceId: m[1]!, page: Number(m[2]) } : undefined;
}

/** Whether a unit holds a row's detail events (its id is the record's detail slice id, shared/details/deliver.ts). */
export function isDetailUnit(unit: string): boolean {
  return unit.startsWith('D-');
}

export function newProgress(sourceId: string, destination: string): DestinationProgress {
  return {
    sourceId, destination, state: 'ok', since: 0, pages: 0, events: 0, bytes: 0, oldestAt: 0, parkedEntries: 0,
    claimOwner: '', claimUntil: 0, attempts: 0, nextAttemptAt: 0, lastError: '', lastErrorAt: 0, lastDeliveredAt: 0, drainedEvents: 0,
    parkReason: '', parkedAt: 0, missed: [], missedUnits: 0, missedEvents: 0, replaying: [], resumedAt: 0, etag: '',
  };
}

// ---- transitions (pure) -----------------------------------------------------------------------

export class IllegalProgressTransition extends Error {
  override readonly name = 'IllegalProgressTransition';
  constructor(transition: string, p: DestinationProgress, why: string) {
    super(`destination ${p.destination} of source ${p.sourceId} (${p.state}): ${transition} refused: ${why}; this is a bug in the collector`);
  }
}

/** Which limit the backlog passed, if any. */
export function limitPassed(p: Pick<DestinationProgress, 'pages' | 'bytes' | 'oldestAt'>, limits: BacklogLimits, now: number): string | undefined {
  if (p.pages > limits.maxPages) return 'limit:pages';
  if (p.bytes > limits.maxBytes) return 'limit:bytes';
  if (p.oldestAt && now - p.oldestAt > limits.maxAgeMs) return 'limit:age';
  return undefined;
}

/**
 * A unit joined the backlog: ok becomes lagging. Past a limit while its drain is failing, the
 * destination is parked (the unit stays). A destination whose drain delivers (a resumed one
 * catching up, a slow one) is not parked by a hand-off: only failing keeps it from its backlog.
 */
export function handedOff(p: DestinationProgress, input: { events: number; bytes: number; limits: BacklogLimits; lastError?: string }, now: number): DestinationProgress {
  if (p.state === 'parked') throw new IllegalProgressTransition('handedOff', p, 'a parked destination stores nothing more (recordMissed)');
  const next: DestinationProgress = {
    ...p, state: 'lagging', since: p.state === 'ok' ? now : p.since || now,
    pages: p.pages + 1, events: p.events + input.events, bytes: p.bytes + input.bytes, oldestAt: p.oldestAt || now,
    ...(input.lastError ? { lastError: input.lastError, lastErrorAt: now } : {}),
  };
  const passed = p.attempts > 0 ? limitPassed(next, input.limits, now) : undefined;
  return passed ? park(next, { reason: passed }, now) : next;
}

/**
 * A unit stored although the destination is parked: only units that a replay cannot re-collect by
 * time range (a row's detail events, bounded by the source's daily detail cap). It waits with the
 * rest of the backlog and drains on resume; the destination stays parked.
 */
export function keptWhileParked(p: DestinationProgress, input: { events: number; bytes: number }, now: number): DestinationProgress {
  if (p.state !== 'parked') throw new IllegalProgressTransition('keptWhileParked', p, 'only a parked destination keeps units aside');
  return { ...p, pages: p.pages + 1, events: p.events + input.events, bytes: p.bytes + input.bytes, oldestAt: p.oldestAt || now };
}

/** Parks the destination: nothing more is stored for it, the drain stops, what it misses is recorded. */
export function park(p: DestinationProgress, input: { reason: string; lastError?: string }, now: number): DestinationProgress {
  if (!input.reason) throw new IllegalProgressTransition('park', p, 'a parked destination needs a reason');
  return {
    ...p, state: 'parked', since: p.since || now, parkReason: input.reason, parkedAt: now, claimOwner: '', claimUntil: 0,
    ...(input.lastError ? { lastError: input.lastError, lastErrorAt: now } : {}),
  };
}

/** While parked: a unit of [startMs, endMs) with `events` events was not stored; it is replayed by re-collecting the range. */
export function recordMissed(p: DestinationProgress, input: { startMs: number; endMs: number; events: number }): DestinationProgress {
  if (p.state !== 'parked') throw new IllegalProgressTransition('recordMissed', p, 'only a parked destination misses units');
  return { ...p, missed: mergeRange(p.missed, { startMs: input.startMs, endMs: input.endMs }), missedUnits: p.missedUnits + 1, missedEvents: p.missedEvents + input.events };
}

/** Adds a range to a sorted list of disjoint ranges, merging overlaps; over the bound the closest two merge. */
export function mergeRange(ranges: readonly MissedRange[], add: MissedRange): MissedRange[] {
  const all = [...ranges, add].sort((a, b) => a.startMs - b.startMs);
  const out: MissedRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r.startMs <= last.endMs) last.endMs = Math.max(last.endMs, r.endMs);
    else out.push({ ...r });
  }
  while (out.length > MAX_MISSED_RANGES) {
    let best = 0;
    for (let i = 1; i < out.length - 1; i++) if (out[i + 1]!.startMs - out[i]!.endMs < out[best + 1]!.startMs - out[best]!.endMs) best = i;
    out.splice(best, 2, { startMs: out[best]!.startMs, endMs: out[best + 1]!.endMs });
  }
  return out;
}

/** The drain takes the lease (refused over a live one). */
export function claimDrain(p: DestinationProgress, input: { owner: string; ttlMs: number }, now: number): DestinationProgress {
  if (p.state !== 'lagging') throw new IllegalProgressTransition('claimDrain', p, 'only a lagging destination is drained');
  if (p.claimOwner && p.claimOwner !== input.owner && p.claimUntil > now) throw new IllegalProgressTransition('claimDrain', p, 'another drain holds a live lease');
  return { ...p, claimOwner: input.owner, claimUntil: now + input.ttlMs };
}

export function renewDrain(p: DestinationProgress, input: { owner: string; ttlMs: number }, now: number): DestinationProgress {
  if (p.claimOwner !== input.owner) throw new IllegalProgressTransition('renewDrain', p, 'the lease is not this drain\'s');
  return { ...p, claimUntil: now + input.ttlMs };
}

/** The drain delivered what it could (`drainedEvents` more events); the backlog as counted now (exact: from the listing). */
export function recount(p: DestinationProgress, input: { pages: number; events: number; bytes: number; oldestAt: number; parkedEntries: number; drainedEvents: number }, now: number): DestinationProgress {
  return {
    ...p, pages: input.pages, events: input.events, bytes: input.bytes, oldestAt: input.oldestAt, parkedEntries: input.parkedEntries,
    drainedEvents: p.drainedEvents + input.drainedEvents,
    ...(input.drainedEvents > 0 ? { attempts: 0, nextAttemptAt: 0, lastDeliveredAt: now } : {}),
  };
}

/** A drain attempt failed (the destination is still down): retry later, the lease released. */
export function drainFailed(p: DestinationProgress, input: { lastError: string; delayMs: number }, now: number): DestinationProgress {
  return { ...p, claimOwner: '', claimUntil: 0, attempts: p.attempts + 1, nextAttemptAt: now + input.delayMs, lastError: input.lastError, lastErrorAt: now };
}

/** Releases the drain's lease (its time is up with work left, or only units not yet committed wait). */
export function releaseDrain(p: DestinationProgress): DestinationProgress {
  return { ...p, claimOwner: '', claimUntil: 0 };
}

/** Nothing waits any more (`drainedEvents` more delivered): back to ok (pages go straight to the destination again). */
export function drained(p: DestinationProgress, input: { drainedEvents: number; parkedEntries: number }, now: number): DestinationProgress {
  if (p.state !== 'lagging') throw new IllegalProgressTransition('drained', p, 'only a lagging destination drains');
  p = { ...p, drainedEvents: p.drainedEvents + input.drainedEvents, parkedEntries: input.parkedEntries };
  // Entries parked on their own stay counted (they wait for a replay); new units go straight to the destination.
  return { ...p, state: 'ok', since: 0, pages: 0, events: 0, bytes: 0, oldestAt: 0, claimOwner: '', claimUntil: 0, attempts: 0, nextAttemptAt: 0, lastDeliveredAt: now };
}

/**
 * Replay of a parked destination: its kept backlog drains again (lagging), and the ranges it
 * missed move to `replaying`, to be re-collected for it alone (`replayAdmitted` empties it).
 */
export function resume(p: DestinationProgress, now: number): DestinationProgress {
  if (p.state !== 'parked') throw new IllegalProgressTransition('resume', p, 'only a parked destination is resumed');
  let replaying = [...p.replaying];
  for (const r of p.missed) replaying = mergeRange(replaying, r);
  return {
    ...p, state: 'lagging', since: p.since || now, parkReason: '', parkedAt: 0, attempts: 0, nextAttemptAt: 0, claimOwner: '', claimUntil: 0,
    missed: [], missedUnits: 0, missedEvents: 0, replaying, resumedAt: replaying.length ? now : p.resumedAt,
  };
}

/** The re-collection of the ranges `replaying` held is admitted (a backfill run for this destination). */
export function replayAdmitted(p: DestinationProgress, input: { resumedAt: number }): DestinationProgress {
  if (p.resumedAt !== input.resumedAt) throw new IllegalProgressTransition('replayAdmitted', p, 'another replay resumed the destination since');
  return { ...p, replaying: [] };
}

// ---- entries ------------------------------------------------------------------------------------

export interface BacklogEntry {
  unit: string;
  /** Events in the entry's blob. */
  events: number;
  /** Events of the blob already delivered (a partial delivery resumes here). */
  delivered: number;
  /** Gzipped size of the blob. */
  bytes: number;
  /** The unit's time range (a page's slice bounds), for the missed ranges of a parked destination. */
  startMs: number;
  endMs: number;
  enqueuedAt: number;
  /** `waiting`, or `parked` (a permanent error for this unit only). */
  state: 'waiting' | 'parked';
  lastError: string;
  etag: string;
}

export interface StoredUnit {
  v: 1;
  unit: string;
  events: TraceEvent[];
}

const ERROR_MAX = 4000;
const clip = (s: string) => (s.length > ERROR_MAX ? s.slice(0, ERROR_MAX) : s);

type Entity = Record<string, unknown> & { etag?: string; rowKey?: string };

function toProgress(sourceId: string, destination: string, e: Entity): DestinationProgress {
  return {
    sourceId, destination,
    state: (['ok', 'lagging', 'parked'].includes(String(e.state)) ? e.state : 'ok') as ProgressState,
    since: Number(e.since ?? 0), pages: Number(e.pages ?? 0), events: Number(e.events ?? 0), bytes: Number(e.bytes ?? 0),
    oldestAt: Number(e.oldestAt ?? 0), parkedEntries: Number(e.parkedEntries ?? 0),
    claimOwner: String(e.claimOwner ?? ''), claimUntil: Number(e.claimUntil ?? 0),
    attempts: Number(e.attempts ?? 0), nextAttemptAt: Number(e.nextAttemptAt ?? 0),
    lastError: String(e.lastError ?? ''), lastErrorAt: Number(e.lastErrorAt ?? 0), lastDeliveredAt: Number(e.lastDeliveredAt ?? 0),
    drainedEvents: Number(e.drainedEvents ?? 0),
    parkReason: String(e.parkReason ?? ''), parkedAt: Number(e.parkedAt ?? 0),
    missed: decodeRanges(e.missed), missedUnits: Number(e.missedUnits ?? 0), missedEvents: Number(e.missedEvents ?? 0),
    replaying: decodeRanges(e.replaying), resumedAt: Number(e.resumedAt ?? 0),
    etag: String(e.etag ?? ''),
  };
}

function fromProgress(p: DestinationProgress): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  return {
    partitionKey: partitionOf(p.sourceId, p.destination), rowKey: PROGRESS_KEY,
    state: p.state, since: p.since, pages: p.pages, events: p.events, bytes: p.bytes, oldestAt: p.oldestAt, parkedEntries: p.parkedEntries,
    claimOwner: p.claimOwner, claimUntil: p.claimUntil, attempts: p.attempts, nextAttemptAt: p.nextAttemptAt,
    lastError: clip(p.lastError), lastErrorAt: p.lastErrorAt, lastDeliveredAt: p.lastDeliveredAt, drainedEvents: p.drainedEvents,
    parkReason: p.parkReason, parkedAt: p.parkedAt, missed: encodeRanges(p.missed), missedUnits: p.missedUnits, missedEvents: p.missedEvents,
    replaying: encodeRanges(p.replaying), resumedAt: p.resumedAt,
  };
}

/** `<start base36>+<length base36>` joined by `;` (≤ ~20 characters a range). */
export function encodeRanges(ranges: readonly MissedRange[]): string {
  return ranges.map((r) => `${r.startMs.toString(36)}+${(r.endMs - r.startMs).toString(36)}`).join(';');
}

export function decodeRanges(text: unknown): MissedRange[] {
  if (typeof text !== 'string' || !text) return [];
  const out: MissedRange[] = [];
  for (const part of text.split(';')) {
    const m = /^([0-9a-z]+)\+([0-9a-z]+)$/.exec(part);
    if (!m) continue;
    const startMs = parseInt(m[1]!, 36);
    out.push({ startMs, endMs: startMs + parseInt(m[2]!, 36) });
  }
  return out;
}

function toEntry(e: Entity): BacklogEntry {
  return {
    unit: String(e.rowKey ?? '').slice(ENTRY_PREFIX.length), events: Number(e.events ?? 0), delivered: Number(e.delivered ?? 0), bytes: Number(e.bytes ?? 0),
    startMs: Number(e.startMs ?? 0), endMs: Number(e.endMs ?? 0), enqueuedAt: Number(e.enqueuedAt ?? 0),
    state: e.state === 'parked' ? 'parked' : 'waiting', lastError: String(e.lastError ?? ''), etag: String(e.etag ?? ''),
  };
}

function escapeKey(s: string): string {
  return s.replace(/'/g, "''");
}

/** The backlog table and blobs of one collector (prefix). */
export class BacklogStore {
  constructor(readonly table: TableClient, readonly blobs: ContainerClient) {}

  async getProgress(sourceId: string, destination: string): Promise<DestinationProgress | undefined> {
    try {
      return toProgress(sourceId, destination, await this.table.getEntity<Entity>(partitionOf(sourceId, destination), PROGRESS_KEY));
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** The progress row, or a new `ok` one (not written) when none exists. */
  async progress(sourceId: string, destination: string): Promise<DestinationProgress> {
    return (await this.getProgress(sourceId, destination)) ?? newProgress(sourceId, destination);
  }

  /** Compare-and-swap (a conditional create when the row has no etag yet); undefined on a lost race. */
  async swapProgress(p: DestinationProgress): Promise<DestinationProgress | undefined> {
    try {
      const r = p.etag
        ? await this.table.updateEntity(fromProgress(p), 'Replace', { etag: p.etag })
        : await this.table.createEntity(fromProgress(p));
      return { ...p, etag: r.etag ?? '' };
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 409) || (p.etag && isStatus(err, 404))) return undefined;
      throw err;
    }
  }

  blobName(sourceId: string, destination: string, unit: string): string {
    return `${sourceId}/${destination}/${unit}.json.gz`;
  }

  /**
   * Stores a unit's events for the destination (blob first, then the entry; both conditional
   * creates, so a repeated hand-off of the same unit keeps the first copy). Returns the entry
   * that is now authoritative.
   */
  async putEntry(sourceId: string, destination: string, unit: string, events: TraceEvent[], range: { startMs: number; endMs: number }, now: number): Promise<BacklogEntry> {
    const body = gzipSync(Buffer.from(JSON.stringify({ v: 1, unit, events } satisfies StoredUnit), 'utf8'));
    try {
      await this.blobs.getBlockBlobClient(this.blobName(sourceId, destination, unit)).upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'gzip' },
        conditions: { ifNoneMatch: '*' },
      });
    } catch (err) {
      if (!isStatus(err, 409) && !isStatus(err, 412)) throw err;
    }
    const entity = {
      partitionKey: partitionOf(sourceId, destination), rowKey: ENTRY_PREFIX + unit,
      events: events.length, delivered: 0, bytes: body.length, startMs: range.startMs, endMs: range.endMs, enqueuedAt: now, state: 'waiting', lastError: '',
    };
    try {
      const r = await this.table.createEntity(entity);
      return toEntry({ ...entity, etag: r.etag ?? '' });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const existing = await this.getEntry(sourceId, destination, unit);
      if (!existing) throw err;
      return existing;
    }
  }

  async getEntry(sourceId: string, destination: string, unit: string): Promise<BacklogEntry | undefined> {
    try {
      return toEntry(await this.table.getEntity<Entity>(partitionOf(sourceId, destination), ENTRY_PREFIX + unit));
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** The entries of the destination's backlog in unit order (a RowKey range of one partition). */
  async *listEntries(sourceId: string, destination: string): AsyncGenerator<BacklogEntry> {
    const filter = `PartitionKey eq '${escapeKey(partitionOf(sourceId, destination))}' and RowKey ge '${ENTRY_PREFIX}' and RowKey lt 'u\u007f'`;
    for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter } })) yield toEntry(e);
  }

  async readUnit(sourceId: string, destination: string, unit: string): Promise<StoredUnit | undefined> {
    let buf: Buffer;
    try {
      buf = await this.blobs.getBlockBlobClient(this.blobName(sourceId, destination, unit)).downloadToBuffer();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
    const data = JSON.parse(gunzipSync(buf).toString('utf8')) as StoredUnit;
    if (data.v !== 1 || data.unit !== unit || !Array.isArray(data.events)) {
      throw new Error(`the backlog copy of ${unit} for destination ${destination} is not one this version can read`);
    }
    return data;
  }

  /** Records how far a partial delivery got (conditional on the entry's etag). */
  async markEntry(sourceId: string, destination: string, entry: BacklogEntry, patch: { delivered?: number; state?: 'waiting' | 'parked'; lastError?: string }): Promise<BacklogEntry | undefined> {
    const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = { partitionKey: partitionOf(sourceId, destination), rowKey: ENTRY_PREFIX + entry.unit };
    if (patch.delivered !== undefined) entity.delivered = patch.delivered;
    if (patch.state !== undefined) entity.state = patch.state;
    if (patch.lastError !== undefined) entity.lastError = clip(patch.lastError);
    try {
      const r = await this.table.updateEntity(entity, 'Merge', { etag: entry.etag });
      return { ...entry, ...patch, ...(patch.lastError !== undefined ? { lastError: clip(patch.lastError) } : {}), etag: r.etag ?? '' };
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** The unit reached the destination: the entry goes, then its blob. */
  async removeEntry(sourceId: string, destination: string, unit: string): Promise<void> {
    try {
      await this.table.deleteEntity(partitionOf(sourceId, destination), ENTRY_PREFIX + unit);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    await this.blobs.getBlockBlobClient(this.blobName(sourceId, destination, unit)).deleteIfExists();
  }
}
