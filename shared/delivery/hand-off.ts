/**
 * The producer side of a destination's backlog: a page (or a detail job's events) that a
 * destination did not take at once is handed to its backlog, and the unit is done for that
 * destination as far as the slice is concerned (shared/delivery/progress.ts has the model).
 *
 * Whether a page job tries a destination directly or sends the page straight to its backlog comes
 * from a hint in the source's health row (`behind`), which the job reads anyway: set when the
 * destination starts lagging, cleared when its drain empties the backlog. Either mistake is safe: a
 * direct attempt at a lagging destination delivers or hands off; a hand-off to a destination that
 * recovered makes it lag again for one drain. A hand-off that finds the hint missing sets it.
 */
import type { SourceConfig } from '../components';
import type { TraceEvent } from '../model/row';
import { deliveryJob, type JobQueue } from '../queue/jobs';
import type { Clock } from '../time/clock';
import type { Logger } from '../log';
import { EVENTS, type Telemetry } from '../telemetry';
import type { BacklogLimits } from '../destinations/config-common';
import type { DestinationConfig, CollectorConfig } from '../components';
import { BACKLOG_DEFAULTS } from '../destinations/config-common';
import { DEFAULT_RETRY_POLICY } from '../config-common/retry';
import type { RetryPolicyConfig } from '../config-common/types';
import type { Ledger } from '../state/ledger';
import { handedOff, keptWhileParked, recordMissed, type BacklogStore, type DestinationProgress } from './progress';

export interface HandOffDeps {
  config: CollectorConfig;
  backlog: BacklogStore;
  ledger: Pick<Ledger, 'markBehind'>;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
}

export function destinationConfig(config: CollectorConfig, id: string): DestinationConfig | undefined {
  return config.destinations.find((d) => d.id === id);
}

export function backlogLimitsOf(config: CollectorConfig, id: string): BacklogLimits {
  return destinationConfig(config, id)?.backlog ?? { maxPages: BACKLOG_DEFAULTS.maxPages, maxBytes: BACKLOG_DEFAULTS.maxBytes, maxAgeMs: 7 * 86_400_000 };
}

export function retryPolicyOfDestination(config: CollectorConfig, id: string): RetryPolicyConfig {
  return destinationConfig(config, id)?.retry ?? DEFAULT_RETRY_POLICY;
}

export interface HandOffUnit {
  /** The unit id (`pageUnit(slice, page)` for a page). */
  unit: string;
  /** The events the destination still lacks, in order. */
  events: TraceEvent[];
  /** The unit's time range (a page: its slice's bounds), recorded when a parked destination misses it. */
  startMs: number;
  endMs: number;
  /** Why it was not delivered directly (the direct attempt's error as health JSON), if it was tried. */
  lastError?: string;
  /** Whether the health row the caller read already lists the destination as behind. */
  hinted?: boolean;
  /**
   * Store the unit even when the destination is parked (a row's detail events: a replay re-collects
   * pages by time range, but a row's detail answer is asked once). Bounded by the daily detail cap.
   */
  keepWhenParked?: boolean;
}

/**
 * Hands a unit to the destination's backlog, or records it as missed when the destination is
 * parked. Idempotent for a unit (its copy and entry are conditional creates). Makes sure a drain
 * job exists when the destination starts lagging. Returns what happened.
 */
export async function handOff(deps: HandOffDeps, source: Pick<SourceConfig, 'id'>, destination: string, u: HandOffUnit): Promise<'queued' | 'missed'> {
  const { backlog, clock } = deps;
  let p = await backlog.progress(source.id, destination);
  if (p.state !== 'parked') {
    const entry = await backlog.putEntry(source.id, destination, u.unit, u.events, { startMs: u.startMs, endMs: u.endMs }, clock.now());
    const limits = backlogLimitsOf(deps.config, destination);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (attempt > 0) p = await backlog.progress(source.id, destination);
      // Parked meanwhile: the entry is kept (counted by the next drain pass) and replayed with the rest.
      if (p.state === 'parked') return 'queued';
      const wasOk = p.state === 'ok';
      const next = handedOff(p, { events: entry.events - entry.delivered, bytes: entry.bytes, limits, ...(u.lastError ? { lastError: u.lastError } : {}) }, clock.now());
      const written = await backlog.swapProgress(next);
      if (!written) continue;
      if (wasOk || !u.hinted) await deps.ledger.markBehind(source.id, destination, true);
      if (wasOk) {
        // The first unit waiting: its drain job comes after the destination's first retry interval.
        await deps.queue.send(deliveryJob(source.id, destination), { delayMs: retryPolicyOfDestination(deps.config, destination).initialMs });
        deps.log.log('warn', `destination ${destination} is behind; its pages of source ${source.id} wait in its backlog while the other destinations go on`, { source: source.id, destination });
      }
      if (written.state === 'parked') announceParked(deps, written);
      return 'queued';
    }
    throw new Error(`could not record the backlog of destination ${destination} (source ${source.id}) after 50 compare-and-swap attempts`);
  }
  if (u.keepWhenParked) {
    const entry = await backlog.putEntry(source.id, destination, u.unit, u.events, { startMs: u.startMs, endMs: u.endMs }, clock.now());
    for (let attempt = 0; attempt < 50; attempt++) {
      if (attempt > 0) p = await backlog.progress(source.id, destination);
      if (p.state !== 'parked') return handOff(deps, source, destination, u);
      if (await backlog.swapProgress(keptWhileParked(p, { events: entry.events - entry.delivered, bytes: entry.bytes }, clock.now()))) {
        if (!u.hinted) await deps.ledger.markBehind(source.id, destination, true);
        return 'queued';
      }
    }
    throw new Error(`could not record a unit kept for the parked destination ${destination} (source ${source.id}) after 50 compare-and-swap attempts`);
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    if (attempt > 0) p = await backlog.progress(source.id, destination);
    if (p.state !== 'parked') return handOff(deps, source, destination, u);
    const written = await backlog.swapProgress(recordMissed(p, { startMs: u.startMs, endMs: u.endMs, events: u.events.length }));
    if (written) {
      if (!u.hinted) await deps.ledger.markBehind(source.id, destination, true);
      deps.telemetry.count('discarded', u.events.length, { source: source.id, reason: 'destination_parked', intentional: 'true' });
      return 'missed';
    }
  }
  throw new Error(`could not record a unit missed by the parked destination ${destination} (source ${source.id}) after 50 compare-and-swap attempts`);
}

/**
 * An earlier attempt of the producer (killed, or its claim taken over) may have stored the unit
 * already. True when it did: the unit is the backlog's then, and sending it directly too would
 * deliver it twice. A unit stored by an attempt killed before it counted the unit (the progress row
 * still `ok`, no drain queued) is handed off again, which counts it and queues the drain.
 */
export async function alreadyHandedOff(deps: HandOffDeps, source: Pick<SourceConfig, 'id'>, destination: string, u: HandOffUnit): Promise<boolean> {
  const entry = await deps.backlog.getEntry(source.id, destination, u.unit);
  if (!entry) return false;
  const p = await deps.backlog.progress(source.id, destination);
  if (p.state === 'ok') await handOff(deps, source, destination, u);
  else if (p.state === 'lagging' && !drainSeenSince(p)) {
    // The earlier attempt may have died between making the destination lag and queueing its drain:
    // no drain has shown itself since the lag began, so queue one (a second drain is harmless: the
    // lease lets one through, the other finds it claimed and ends).
    await deps.queue.send(deliveryJob(source.id, destination), { delayMs: retryPolicyOfDestination(deps.config, destination).initialMs });
    deps.log.log('info', `destination ${destination} lags for source ${source.id} with no drain seen since; queued one`, { source: source.id, destination });
  }
  return true;
}

/** Whether a drain of the lagging destination has claimed, failed or delivered since the lag began. */
export function drainSeenSince(p: DestinationProgress): boolean {
  return Math.max(p.claimUntil, p.nextAttemptAt, p.lastDeliveredAt) >= p.since;
}

/** A destination passed its backlog limit: say so loudly (health event, error log), once per park. */
export function announceParked(deps: Pick<HandOffDeps, 'log' | 'telemetry'>, p: DestinationProgress): void {
  deps.telemetry.event(EVENTS.destinationParked, {
    source: p.sourceId, destination: p.destination, reason: p.parkReason, pages: p.pages, bytes: p.bytes,
  });
  deps.log.log('error', `destination ${p.destination} is parked (${p.parkReason}): its backlog for source ${p.sourceId} passed its limit (${p.pages} pages, ${p.bytes} bytes waiting); nothing more is stored for it, the ranges it misses are recorded and re-collected for it alone by POST /api/sources/${p.sourceId}/destinations/${p.destination}/replay`, { source: p.sourceId, destination: p.destination });
}
