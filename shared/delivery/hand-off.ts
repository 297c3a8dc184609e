/**
 * The producer side of a destination's backlog: a page (or a detail job's events) that a
 * destination did not take at once is handed to its backlog, and the unit is done for that
 * destination as far as the slice is concerned (shared/delivery/progress.ts has the model).
 *
 * The state a page worker reads to decide "try directly, or straight to the backlog" is cached per
 * process for a few seconds: either mistake is safe (a direct attempt at a lagging destination
 * delivers or hands off; a hand-off to a destination that just recovered is drained at once).
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
import { handedOff, recordMissed, type BacklogStore, type DestinationProgress, type ProgressState } from './progress';

export interface HandOffDeps {
  config: CollectorConfig;
  backlog: BacklogStore;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
}

/** How long a read of a destination's state is reused by this process (clock time). */
export const STATE_CACHE_MS = 10_000;
const stateCache = new WeakMap<BacklogStore, Map<string, { state: ProgressState; at: number }>>();

function cacheOf(store: BacklogStore): Map<string, { state: ProgressState; at: number }> {
  let c = stateCache.get(store);
  if (!c) stateCache.set(store, (c = new Map()));
  return c;
}

function remember(store: BacklogStore, p: Pick<DestinationProgress, 'sourceId' | 'destination' | 'state'>, now: number): void {
  const c = cacheOf(store);
  c.set(`${p.sourceId}~${p.destination}`, { state: p.state, at: now });
  if (c.size > 10_000) c.delete(c.keys().next().value!);
}

/** Whether the destination takes units directly (`ok`) or they join its backlog (`lagging`, `parked`). */
export async function destinationState(deps: Pick<HandOffDeps, 'backlog' | 'clock'>, sourceId: string, destination: string): Promise<ProgressState> {
  const now = deps.clock.now();
  const hit = cacheOf(deps.backlog).get(`${sourceId}~${destination}`);
  if (hit && now >= hit.at && now - hit.at < STATE_CACHE_MS) return hit.state;
  const p = await deps.backlog.getProgress(sourceId, destination);
  const state = p?.state ?? 'ok';
  remember(deps.backlog, { sourceId, destination, state }, now);
  return state;
}

/** Forgets what this process knows of destinations' states (tests that change them behind its back). */
export function forgetDestinationStates(store: BacklogStore): void {
  cacheOf(store).clear();
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
      remember(backlog, written, clock.now());
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
  for (let attempt = 0; attempt < 50; attempt++) {
    if (attempt > 0) p = await backlog.progress(source.id, destination);
    if (p.state !== 'parked') return handOff(deps, source, destination, u);
    const written = await backlog.swapProgress(recordMissed(p, { startMs: u.startMs, endMs: u.endMs, events: u.events.length }));
    if (written) {
      remember(backlog, written, clock.now());
      deps.telemetry.count('discarded', u.events.length, { source: source.id, reason: 'destination_parked', intentional: 'true' });
      return 'missed';
    }
  }
  throw new Error(`could not record a unit missed by the parked destination ${destination} (source ${source.id}) after 50 compare-and-swap attempts`);
}

/** A destination passed its backlog limit: say so loudly (health event, error log), once per park. */
export function announceParked(deps: Pick<HandOffDeps, 'log' | 'telemetry'>, p: DestinationProgress): void {
  deps.telemetry.event(EVENTS.destinationParked, {
    source: p.sourceId, destination: p.destination, reason: p.parkReason, pages: p.pages, bytes: p.bytes,
  });
  deps.log.log('error', `destination ${p.destination} is parked (${p.parkReason}): its backlog for source ${p.sourceId} passed its limit (${p.pages} pages, ${p.bytes} bytes waiting); nothing more is stored for it, the ranges it misses are recorded and re-collected for it alone by POST /api/sources/${p.sourceId}/destinations/${p.destination}/replay`, { source: p.sourceId, destination: p.destination });
}
