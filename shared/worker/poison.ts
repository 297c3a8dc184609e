/**
 * Poison handling: a page job the host gave up on (maxDequeueCount failures) parks its slice with
 * the reason; a message that is not a valid page job is kept as an unattributed poison record
 * (table <prefix>poison), listed by the status endpoint. Also used by the page worker for messages
 * that fail the job schema, so they are parked at once instead of retried five times.
 */
import { randomUUID } from 'node:crypto';
import { CollectorError } from '../errors';
import type { Ledger } from '../state/ledger';
import { decodeJob, isPageBatch, isPageJob, JobSchemaError, type PageJob, type QueueJob } from '../queue/jobs';
import { parkPoisonedDetail } from '../details/poison';
import { park } from '../state/slice-machine';
import type { Clock } from '../time/clock';
import type { Logger } from '../log';
import type { Telemetry } from '../telemetry';
import { EVENTS } from '../telemetry';
import { isStatus, type StorageClients } from '../state/storage';
import { safeExcerpt, textOf } from '../safe-excerpt';

export interface PoisonDeps {
  ledger: Ledger;
  storage: StorageClients;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
}

export function poisonTableName(ledger: Ledger): string {
  return `${ledger.prefix}poison`;
}

/** Bounds of an unattributed poison record (a Table string property holds 32K characters). */
export const POISON_REASON_MAX = 500;
export const POISON_EXCERPT_MAX = 200;
/** Records read for status, and shown (newest first). */
const POISON_READ_MAX = 1000;
const POISON_SHOWN_MAX = 50;

export interface UnattributedPoison {
  messageId: string;
  reason: string;
  /** A sanitised excerpt (shared/safe-excerpt.ts), never the raw message. */
  excerpt: string;
  /** Size of the message as received, in characters (or bytes for binary). */
  size?: number;
  /** The queue it was found in. */
  queue?: string;
  at: string;
}

function safeRowKey(messageId: string): string {
  return /^[A-Za-z0-9._-]{1,128}$/.test(messageId) ? messageId : randomUUID();
}

/** Size of a payload as received: characters of text, bytes of binary, characters of JSON otherwise. */
function sizeOf(payload: unknown): number {
  if (typeof payload === 'string') return payload.length;
  if (payload instanceof Uint8Array || payload instanceof ArrayBuffer) return payload.byteLength;
  return textOf(payload).length;
}

/**
 * Records a message that is not a page job of a known slice. Only a sanitised, bounded excerpt of
 * it is kept (whatever the payload: text, bytes, an object, nothing).
 */
export async function recordUnattributedPoison(deps: PoisonDeps, messageId: string, reason: string, payload: unknown, opts: { queue?: string } = {}): Promise<void> {
  const table = deps.storage.table(poisonTableName(deps.ledger));
  await table.createTable();
  const safeReason = safeExcerpt(reason, POISON_REASON_MAX);
  await table.upsertEntity({
    partitionKey: 'poison', rowKey: safeRowKey(messageId), reason: safeReason, excerpt: safeExcerpt(textOf(payload), POISON_EXCERPT_MAX),
    size: sizeOf(payload), queue: opts.queue ?? '', at: deps.clock.now(),
  }, 'Replace');
  deps.telemetry.event(EVENTS.sliceParked, { source: '(unknown)', slice: '(unknown)', reason: 'schema', message: safeReason });
  deps.log.log('error', `a queue message that is not a valid page job was parked: ${safeReason}`, { messageId: safeExcerpt(messageId, 64), ...(opts.queue ? { queue: opts.queue } : {}) });
}

/** The newest unattributed poison records (at most 50), sanitised again on the way out. */
export async function listUnattributedPoison(deps: Pick<PoisonDeps, 'ledger' | 'storage'>): Promise<UnattributedPoison[]> {
  const table = deps.storage.table(poisonTableName(deps.ledger));
  const out: (UnattributedPoison & { atMs: number })[] = [];
  try {
    for await (const e of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq 'poison'` } })) {
      const atMs = Number(e.at);
      out.push({
        messageId: safeExcerpt(String(e.rowKey), 128), reason: safeExcerpt(String(e.reason ?? ''), POISON_REASON_MAX),
        excerpt: safeExcerpt(String(e.excerpt ?? ''), POISON_EXCERPT_MAX),
        ...(e.size !== undefined ? { size: Number(e.size) } : {}), ...(/^[a-z0-9-]{3,63}$/.test(String(e.queue ?? '')) ? { queue: String(e.queue) } : {}),
        at: Number.isFinite(atMs) && Math.abs(atMs) < 8.64e15 ? new Date(atMs).toISOString() : '', atMs,
      });
      if (out.length >= POISON_READ_MAX) break;
    }
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
  }
  return out.sort((a, b) => b.atMs - a.atMs).slice(0, POISON_SHOWN_MAX).map(({ atMs: _atMs, ...rest }) => rest);
}

/** A Table key can hold neither `/ \\ # ?` nor control characters: a job naming such an id has no slice. */
function isStorableKey(id: string): boolean {
  for (const ch of id) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || ch === '/' || ch === '\\' || ch === '#' || ch === '?') return false;
  }
  return true;
}

/** Binary payloads as text (UTF-8), or undefined when they are not UTF-8. */
function asText(payload: unknown): unknown {
  if (!(payload instanceof Uint8Array || payload instanceof ArrayBuffer)) return payload;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return undefined;
  }
}

/**
 * Handles one message from a poison queue, whatever it holds: a page job of a slice still in
 * progress parks the slice; a detail job parks its detail record (shared/details/poison.ts); anything else (not UTF-8, not JSON, not a page job, a job of a slice
 * that does not exist) is recorded as unattributed poison. Bad input never throws; only a storage
 * failure does (the message is then tried again).
 */
export async function handlePoisonMessage(deps: PoisonDeps, message: unknown, messageId: string, opts: { queue?: string } = {}): Promise<string> {
  const text = asText(message);
  if (text === undefined) {
    await recordUnattributedPoison(deps, messageId, 'undecodable message: the message is not UTF-8 text', message, opts);
    return 'recorded as unattributed poison (not text)';
  }
  let decoded: QueueJob;
  try {
    decoded = decodeJob(text);
  } catch (err) {
    const reason = err instanceof JobSchemaError ? err.message : `undecodable message: ${err instanceof Error ? err.message : 'not a page job'}`;
    await recordUnattributedPoison(deps, messageId, reason, text, opts);
    return 'recorded as unattributed poison';
  }
  if (isPageBatch(decoded)) {
    // Each entry as the single page job it stands for: a slice still at that page parks, the rest
    // moved on. The entries' ids are checked like a single job's.
    const results: string[] = [];
    for (const [i, entry] of decoded.jobs.entries()) results.push(await handlePoisonedPageJob(deps, entry, `${messageId}~${i}`, opts));
    return `batch of ${decoded.jobs.length}: ${results.join('; ')}`;
  }
  if (!isPageJob(decoded)) {
    if (decoded.kind === 'detail') {
      const outcome = await parkPoisonedDetail(deps, decoded);
      if (outcome === 'parked') return `parked detail record ${decoded.record}`;
      if (outcome === 'stale') return 'stale (the detail record moved on)';
      await recordUnattributedPoison(deps, messageId, `detail job for unknown detail record ${decoded.sourceId}/${decoded.record}`, JSON.stringify(decoded), opts);
      return 'recorded as unattributed poison (unknown detail record)';
    }
    // A drain job the host gave up on: nothing is lost (the backlog stays, the planner's sweep starts
    // a new drain), but a drain failing on every attempt must be seen.
    await recordUnattributedPoison(deps, messageId, `the drain job of destination ${decoded.destination} for source ${decoded.sourceId} failed on every attempt the host allows; its backlog is kept and the planner starts a new drain (see the logs for the error)`, JSON.stringify(decoded), opts);
    return `recorded a failing drain of ${decoded.destination}`;
  }
  return handlePoisonedPageJob(deps, decoded, messageId, opts);
}

/** A page job the host gave up on: parks its slice if the slice is still at that page and unclaimed. */
async function handlePoisonedPageJob(deps: PoisonDeps, job: PageJob, messageId: string, opts: { queue?: string }): Promise<string> {
  const slice = isStorableKey(job.sourceId) && isStorableKey(job.sliceId) ? await deps.ledger.getSlice(job.sourceId, job.sliceId) : undefined;
  if (!slice) {
    await recordUnattributedPoison(deps, messageId, `page job for unknown slice ${job.sourceId}/${job.sliceId}`, JSON.stringify(job), opts);
    return 'recorded as unattributed poison (unknown slice)';
  }
  if (slice.state === 'done' || slice.state === 'parked' || job.page !== slice.page) return 'stale (the slice moved on)';
  // A copy of a job whose page another worker holds right now: the holder decides, not the copy.
  if (slice.claimOwner && slice.claimUntil > deps.clock.now()) return 'stale (the page is claimed by a live worker)';
  const error = new CollectorError('FirstPartyGeneric', `the page job failed on every attempt the host allows (poison queue); the last error is in the logs`, {
    code: 'PoisonMessage', retryable: false,
    fix: 'Look up the slice in the logs, fix the cause, then POST /api/sources/<source>/replay.',
  });
  const now = deps.clock.now();
  const updated = await deps.ledger.swapSlice(park(slice, { reason: 'poison', requests: 0, lastError: JSON.stringify(error.toHealth()) }, now));
  if (!updated) return 'lost a race; the slice moved on';
  deps.telemetry.event(EVENTS.sliceParked, { source: job.sourceId, slice: job.sliceId, reason: 'poison', errorType: error.type, code: error.code, message: error.message });
  deps.log.log('error', `slice parked from the poison queue: ${job.sliceId} page ${job.page}`, { source: job.sourceId, slice: job.sliceId, page: job.page });
  return `parked slice ${job.sliceId}`;
}

/** The queues a poison message can be in: the page queue's poison queue, and that queue's own poison queue. */
export function poisonQueueNames(pageQueue: string): { poison: string; poisonPoison: string } {
  return { poison: `${pageQueue}-poison`, poisonPoison: `${pageQueue}-poison-poison` };
}

/** Approximate message counts of the page queue and both poison queues (0 for a queue that does not exist). */
export async function queueDepths(storage: StorageClients, pageQueue: string): Promise<Record<string, number>> {
  const { poison, poisonPoison } = poisonQueueNames(pageQueue);
  const out: Record<string, number> = {};
  for (const name of [pageQueue, poison, poisonPoison]) {
    try {
      out[name] = (await storage.queue(name).getProperties()).approximateMessagesCount ?? 0;
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      out[name] = 0;
    }
  }
  return out;
}

/**
 * Strict base64 as the Functions host reads queue messages (whitespace ignored, padding required),
 * then UTF-8. Returns the text, or why it is not.
 */
export function decodeQueueMessageText(raw: string): { ok: true; text: string } | { ok: false; reason: string } {
  const compact = raw.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    return { ok: false, reason: 'undecodable message: the message is not base64 (the host decodes every queue message as base64)' };
  }
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64')) };
  } catch {
    return { ok: false, reason: 'undecodable message: the base64 message does not hold UTF-8 text' };
  }
}

/** Messages a sweep handles at most (32 per receive). */
const SWEEP_MAX_MESSAGES = 320;
/** How long a received message stays hidden while the sweep handles it. */
const SWEEP_VISIBILITY_S = 300;

/**
 * Empties `<page queue>-poison-poison`, where the host puts what even the poison trigger could not
 * take (a message that is not base64 fails the trigger's binding before any code runs): every
 * message becomes a parked slice or an unattributed poison record, read from its raw text with the
 * SDK. Reports the poison queues' depths as the `mtc.queue.poison_messages` gauge, for an alert.
 */
export async function sweepPoisonQueues(deps: PoisonDeps & { queueName: string }): Promise<{ handled: number; depths: Record<string, number> }> {
  const { poison, poisonPoison } = poisonQueueNames(deps.queueName);
  const q = deps.storage.queue(poisonPoison);
  let handled = 0;
  let failure: unknown;
  while (handled < SWEEP_MAX_MESSAGES) {
    let batch;
    try {
      batch = (await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: SWEEP_VISIBILITY_S })).receivedMessageItems;
    } catch (err) {
      if (isStatus(err, 404)) break;
      throw err;
    }
    if (!batch.length) break;
    for (const m of batch) {
      try {
        const decoded = decodeQueueMessageText(m.messageText);
        if (decoded.ok) await handlePoisonMessage(deps, decoded.text, m.messageId, { queue: poisonPoison });
        else await recordUnattributedPoison(deps, m.messageId, decoded.reason, m.messageText, { queue: poisonPoison });
        await q.deleteMessage(m.messageId, m.popReceipt);
        handled++;
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) break;
  }
  const depths = await queueDepths(deps.storage, deps.queueName);
  for (const name of [poison, poisonPoison]) deps.telemetry.gauge('poisonQueueMessages', depths[name] ?? 0, { queue: name });
  if (handled) deps.log.log('warn', `${handled} message(s) from ${poisonPoison} recorded (see unattributedPoison in GET /api/status)`, { queue: poisonPoison });
  if (failure) throw failure;
  return { handled, depths };
}
