/**
 * Poison handling: a page job the host gave up on (maxDequeueCount failures) parks its slice with
 * the reason; a message that is not a valid page job is kept as an unattributed poison record
 * (table <prefix>poison), listed by the status endpoint. Also used by the page worker for messages
 * that fail the job schema, so they are parked at once instead of retried five times.
 */
import { randomUUID } from 'node:crypto';
import { CollectorError, excerptOf } from '../errors';
import type { Ledger } from '../state/ledger';
import { decodeJob, JobSchemaError } from '../queue/jobs';
import type { Clock } from '../time/clock';
import type { Logger } from '../log';
import type { Telemetry } from '../telemetry';
import { EVENTS } from '../telemetry';
import type { StorageClients } from '../state/storage';

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

export async function recordUnattributedPoison(deps: PoisonDeps, messageId: string, reason: string, excerpt: string): Promise<void> {
  const table = deps.storage.table(poisonTableName(deps.ledger));
  await table.createTable();
  await table.upsertEntity({ partitionKey: 'poison', rowKey: messageId || randomUUID(), reason, excerpt: excerptOf(excerpt, 200), at: deps.clock.now() }, 'Replace');
  deps.telemetry.event(EVENTS.sliceParked, { source: '(unknown)', slice: '(unknown)', reason: 'schema', message: reason });
  deps.log.log('error', `a queue message that is not a valid page job was parked: ${reason}`, { messageId });
}

export async function listUnattributedPoison(deps: Pick<PoisonDeps, 'ledger' | 'storage'>): Promise<{ messageId: string; reason: string; excerpt: string; at: string }[]> {
  const table = deps.storage.table(poisonTableName(deps.ledger));
  const out: { messageId: string; reason: string; excerpt: string; at: string }[] = [];
  try {
    for await (const e of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq 'poison'` } })) {
      out.push({ messageId: String(e.rowKey), reason: String(e.reason), excerpt: String(e.excerpt), at: new Date(Number(e.at)).toISOString() });
    }
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  return out;
}

export async function handlePoisonMessage(deps: PoisonDeps, message: unknown, messageId: string): Promise<string> {
  let job;
  try {
    job = decodeJob(message);
  } catch (err) {
    const reason = err instanceof JobSchemaError ? err.message : `undecodable message: ${(err as Error).message}`;
    await recordUnattributedPoison(deps, messageId, reason, typeof message === 'string' ? message : JSON.stringify(message) ?? '');
    return 'recorded as unattributed poison';
  }
  const slice = await deps.ledger.getSlice(job.sourceId, job.sliceId);
  if (!slice) {
    await recordUnattributedPoison(deps, messageId, `page job for unknown slice ${job.sourceId}/${job.sliceId}`, JSON.stringify(job));
    return 'recorded as unattributed poison (unknown slice)';
  }
  if (slice.state === 'done' || slice.state === 'parked' || job.page < slice.page) return 'stale (the slice moved on)';
  const error = new CollectorError('FirstPartyGeneric', `the page job failed on every attempt the host allows (poison queue); the last error is in the logs`, {
    code: 'PoisonMessage', retryable: false,
    fix: 'Look up the slice in the logs, fix the cause, then POST /api/sources/<source>/replay.',
  });
  const now = deps.clock.now();
  const updated = await deps.ledger.swapSlice({
    ...slice, state: 'parked', parkReason: 'poison', parkedAt: now, claimOwner: '', claimUntil: 0,
    lastError: JSON.stringify(error.toHealth()), updatedAt: now,
  });
  if (!updated) return 'lost a race; the slice moved on';
  deps.telemetry.event(EVENTS.sliceParked, { source: job.sourceId, slice: job.sliceId, reason: 'poison', errorType: error.type, code: error.code, message: error.message });
  deps.log.log('error', `slice parked from the poison queue: ${job.sliceId} page ${job.page}`, { source: job.sourceId, slice: job.sliceId, page: job.page });
  return `parked slice ${job.sliceId}`;
}
