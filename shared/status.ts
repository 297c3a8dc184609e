/**
 * Status per source: health state, completed watermark, lag, last error, slices in trouble, runs.
 */
import type { SourceConfig } from './components';
import type { Runtime } from './runtime';
import { runProgress, type RunProgress } from './backfill-runs';
import { runStore } from './state/runs';
import { detailStatus, type DetailStatus } from './details/sweep';

export interface SourceStatus {
  id: string;
  enabled: boolean;
  tenantId: string;
  api: string;
  state: string;
  stateSince?: string;
  /** Every instant before this has been collected (contiguous done live slices). */
  completedUntil?: string;
  /** Planned into live slices up to here. */
  scheduledUntil?: string;
  /** Collected at least once up to here (= completedUntil). */
  freshUntil?: string;
  /** Every settle re-read done up to here (re-reads off: equal to freshUntil). */
  settledUntil?: string;
  /** Ranges not collected: parked slices, and history the API no longer serves. */
  gaps: { start: string; end: string; kind: string; reason: string; sliceId: string }[];
  /** Requests spent, by slice kind (live, backfill, rescan). */
  requestsByKind: Record<string, number>;
  lagSeconds?: number;
  lastSuccessAt?: string;
  lastError?: unknown;
  lastErrorAt?: string;
  slices: { pending: number; fetching: number; parked: number; done: number; rows: number; requests: number };
  parked: { sliceId: string; kind: string; start: string; end: string; page: number; reason: string; parkedAt?: string; error: unknown }[];
  runs: RunProgress[];
  /**
   * Each destination's own progress (shared/delivery): `ok` (it keeps up), `lagging` (units wait in
   * its backlog, the others went on), or `parked` (its backlog passed a limit; the ranges it missed
   * are listed and re-collected for it by POST /api/sources/{source}/destinations/{destination}/replay).
   */
  destinations: DestinationStatus[];
  /** Detail enrichment (only for a source with a `details` block): requests today and the cap, backlog, done, parked, skipped. */
  details?: DetailStatus;
}

export interface DestinationStatus {
  id: string;
  state: string;
  since?: string;
  backlog: { units: number; events: number; bytes: number; oldestAt?: string; oldestAgeSeconds: number };
  /** Units the destination refused permanently (parked on their own; replayed with the destination's replay). */
  parkedUnits: { unit: string; events: number; error: unknown }[];
  lastError?: unknown;
  lastErrorAt?: string;
  lastDeliveredAt?: string;
  nextAttemptAt?: string;
  parkReason?: string;
  parkedAt?: string;
  /** While parked: what it missed, as time ranges re-collected on replay. */
  missed?: { units: number; events: number; ranges: { start: string; end: string }[] };
}

/** Parked units listed per destination in status. */
const PARKED_UNITS_SHOWN = 50;

async function destinationStatus(rt: Runtime, source: SourceConfig, id: string, now: number): Promise<DestinationStatus> {
  const p = await rt.backlog.getProgress(source.id, id);
  const parkedUnits: DestinationStatus['parkedUnits'] = [];
  if (p && p.parkedEntries > 0) {
    for await (const e of rt.backlog.listEntries(source.id, id)) {
      if (e.state !== 'parked') continue;
      parkedUnits.push({ unit: e.unit, events: e.events - e.delivered, error: parseJson(e.lastError) });
      if (parkedUnits.length >= PARKED_UNITS_SHOWN) break;
    }
  }
  return {
    id,
    state: p?.state ?? 'ok',
    ...(p?.since ? { since: iso(p.since) } : {}),
    backlog: { units: p?.pages ?? 0, events: p?.events ?? 0, bytes: p?.bytes ?? 0, ...(p?.oldestAt ? { oldestAt: iso(p.oldestAt) } : {}), oldestAgeSeconds: p?.oldestAt ? Math.max(0, Math.round((now - p.oldestAt) / 1000)) : 0 },
    parkedUnits,
    ...(p?.lastError ? { lastError: parseJson(p.lastError), lastErrorAt: iso(p.lastErrorAt) } : {}),
    ...(p?.lastDeliveredAt ? { lastDeliveredAt: iso(p.lastDeliveredAt) } : {}),
    ...(p?.nextAttemptAt && p.nextAttemptAt > now ? { nextAttemptAt: iso(p.nextAttemptAt) } : {}),
    ...(p?.state === 'parked' ? {
      parkReason: p.parkReason, parkedAt: iso(p.parkedAt),
      missed: { units: p.missedUnits, events: p.missedEvents, ranges: p.missed.map((r) => ({ start: iso(r.startMs)!, end: iso(r.endMs)! })) },
    } : {}),
  };
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function sourceStatus(rt: Runtime, source: SourceConfig): Promise<SourceStatus> {
  const [health, cursor, runs] = await Promise.all([
    rt.ledger.getHealth(source.id),
    rt.ledger.getCursor(source.id),
    runStore(rt.ledger).listRuns(source.id),
  ]);
  const counts = { pending: 0, fetching: 0, parked: 0, done: 0, rows: 0, requests: 0 };
  const parked: SourceStatus['parked'] = [];
  const gaps: SourceStatus['gaps'] = [];
  const requestsByKind: Record<string, number> = { live: 0, backfill: 0, rescan: 0 };
  for await (const s of rt.ledger.listSlices(source.id)) {
    counts[s.state] += 1;
    counts.rows += s.rows;
    counts.requests += s.requests;
    requestsByKind[s.kind] = (requestsByKind[s.kind] ?? 0) + s.requests;
    if (s.state === 'parked' || s.parkReason === 'expired-history') {
      gaps.push({ start: iso(s.startMs)!, end: iso(s.endMs)!, kind: s.kind, reason: s.parkReason || s.state, sliceId: s.id });
    }
    if (s.state === 'parked') {
      parked.push({ sliceId: s.id, kind: s.kind, start: iso(s.startMs)!, end: iso(s.endMs)!, page: s.page, reason: s.parkReason, ...(s.parkedAt ? { parkedAt: iso(s.parkedAt) } : {}), error: parseJson(s.lastError) });
    }
  }
  const completedUntil = health?.completedUntil || cursor?.startMs;
  const now = rt.clock.now();
  const state = !source.enabled ? 'Stopping' : health?.state ?? (cursor ? 'Started' : 'Pending');
  return {
    id: source.id,
    enabled: source.enabled,
    tenantId: source.tenantId,
    api: `${source.api}/${source.graphApiVersion}`,
    state,
    ...(health?.stateSince ? { stateSince: iso(health.stateSince) } : {}),
    ...(completedUntil ? { completedUntil: iso(completedUntil), lagSeconds: Math.max(0, Math.round((now - completedUntil) / 1000)) } : {}),
    ...(cursor ? { scheduledUntil: iso(cursor.scheduledUntil) } : {}),
    ...(completedUntil ? { freshUntil: iso(completedUntil) } : {}),
    ...(completedUntil ? { settledUntil: iso(source.settleRereadsMs.length ? health?.settledUntil || cursor?.startMs : completedUntil) } : {}),
    gaps,
    requestsByKind,
    ...(health?.lastSuccessAt ? { lastSuccessAt: iso(health.lastSuccessAt) } : {}),
    ...(health?.lastError ? { lastError: parseJson(health.lastError), lastErrorAt: iso(health.lastErrorAt) } : {}),
    slices: counts,
    parked,
    runs: await Promise.all(runs.sort((a, b) => b.createdAt - a.createdAt).slice(0, 20).map((r) => runProgress(rt, r))),
    destinations: await Promise.all(source.destinations.map((id) => destinationStatus(rt, source, id, now))),
    ...(source.details ? { details: await detailStatus(rt, source) } : {}),
  };
}
