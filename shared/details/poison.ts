/**
 * A detail job the host gave up on (maxDequeueCount failures: a crash loop, a storage outage)
 * parks the detail record it names, with reason `poison`; a detail job naming no record is
 * unattributed poison (shared/worker/poison.ts records it).
 */
import { CollectorError } from '../errors';
import type { DetailJob } from '../queue/jobs';
import type { Clock } from '../time/clock';
import type { Logger } from '../log';
import { park } from './machine';
import { DetailStore, utcDay } from './store';
import type { StorageClients } from '../state/storage';

export interface DetailPoisonDeps {
  storage: StorageClients;
  ledger: { prefix: string };
  clock: Clock;
  log: Logger;
}

/** What became of the record: parked, stale, or 'unknown' (no such record: the caller records unattributed poison). */
export async function parkPoisonedDetail(deps: DetailPoisonDeps, job: DetailJob): Promise<'parked' | 'stale' | 'unknown'> {
  const store = new DetailStore(deps.storage, deps.ledger.prefix);
  let record;
  try {
    record = await store.get(job.sourceId, job.record);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return 'unknown'; // the table itself does not exist
    throw err;
  }
  if (!record) return 'unknown';
  if (record.state !== 'pending' && record.state !== 'fetching') return 'stale';
  const now = deps.clock.now();
  if (record.claimOwner && record.claimUntil > now) return 'stale';
  const error = new CollectorError('FirstPartyGeneric', 'the detail job failed on every attempt the host allows (poison queue); the last error is in the logs', {
    code: 'PoisonMessage', retryable: false, fix: `Look up the detail record ${job.record} in the logs, fix the cause, then POST /api/sources/${job.sourceId}/replay.`,
  });
  await store.markParked(job.sourceId, record.key, now);
  const parked = await store.swap(park(record, { reason: 'poison', lastError: JSON.stringify(error.toHealth()) }, now));
  if (!parked) return 'stale';
  await store.addToDay(job.sourceId, utcDay(now), { parked: 1 });
  deps.log.log('error', `detail record parked from the poison queue: ${job.record}`, { source: job.sourceId, record: job.record });
  return 'parked';
}
