/**
 * A fetched page as the slice keeps it: rows inside the half-open slice, page-boundary repeats
 * dropped, events built, and for settle re-reads only what is new or changed.
 */
import { createHash } from 'node:crypto';
import type { SourceConfig } from '../../components';
import { makeEvent, receivedMs, rowKey, type MessageTraceRow, type TraceEvent } from '../../model/row';
import type { PageResult } from '../../api/client';
import type { SliceRow } from '../../state/ledger';
import type { Clock } from '../../time/clock';
import { bucketOf, fingerprint, parseFingerprint, type SeenStore } from '../../settle/seen-store';
import type { PageContent, WorkerDeps } from '../deps';

const BOUNDARY_WINDOW_MS = 1000;

/**
 * Keeps the half-open slice, drops boundary repeats and repeats within the page, builds events.
 * A settle re-read (rescan) keeps only rows never seen before (late arrivals, normal events) and
 * rows whose status, size or toIP changed (update events carrying the previous values); unchanged
 * rows are not sent again. Live pages and re-reads record what they kept in the seen-store.
 */
export async function buildContent(deps: WorkerDeps, source: SourceConfig, slice: SliceRow, result: PageResult, api: string, previousBoundaryKeys: string[]): Promise<PageContent> {
  // Rows written by an earlier version hold the row keys themselves (22 characters): hash them.
  const previousBoundary = previousBoundaryKeys.map((k) => (k.length === 16 ? k : boundaryHash(k)));
  const seen = new Set(previousBoundary);
  const kept: { row: MessageTraceRow; raw?: unknown; key: string }[] = [];
  let oldest = Number.POSITIVE_INFINITY;
  let outside = 0, repeats = 0;
  result.rows.forEach((row, i) => {
    const t = receivedMs(row.receivedDateTime);
    if (!Number.isNaN(t)) oldest = Math.min(oldest, t);
    if (Number.isNaN(t) || t < slice.startMs || t >= slice.endMs) {
      outside++;
      return;
    }
    const key = rowKey(source.tenantId, row);
    const hashed = boundaryHash(key);
    if (seen.has(hashed)) {
      repeats++;
      return;
    }
    seen.add(hashed);
    kept.push({ row, key, ...(result.raws ? { raw: result.raws[i] } : {}) });
  });
  // Every row at the page's oldest instant (and a second after it) may come again on the next
  // page: all of them are remembered, however many (a distribution list puts thousands of rows in
  // one millisecond), as short hashes; a list too long for the slice row stays in the page copy.
  const boundaryKeys: string[] = [];
  for (let i = result.rows.length - 1; i >= 0; i--) {
    const t = receivedMs(result.rows[i]!.receivedDateTime);
    if (!(t <= oldest + BOUNDARY_WINDOW_MS)) break;
    boundaryKeys.push(boundaryHash(rowKey(source.tenantId, result.rows[i]!)));
  }
  // A burst longer than a page (a mail to thousands of recipients at one instant, $top smaller)
  // spans several pages, and the next page may repeat every row of the instant served so far,
  // not only the last page's: while the oldest instant stays within the window, keep the keys.
  if (slice.page > 0 && slice.oldestMs && Number.isFinite(oldest) && slice.oldestMs <= oldest + BOUNDARY_WINDOW_MS) {
    const mine = new Set(boundaryKeys);
    for (const k of previousBoundary) if (!mine.has(k)) boundaryKeys.push(k);
  }
  const collectedAt = new Date(deps.clock.now()).toISOString();
  const settling = source.settleRereadsMs.length > 0 && (slice.kind === 'live' || slice.kind === 'rescan');
  const events: TraceEvent[] = [];
  const writes = new Map<number, { keys: string[]; fps: string[] }>();
  let unchanged = 0;
  let previousOf: Map<string, string> | undefined;
  if (slice.kind === 'rescan') {
    const level = Number(/^R(\d+)-/.exec(slice.id)?.[1] ?? 0);
    previousOf = await loadSeenCached(deps.clock, deps.seen, source.id, bucketOf(slice.startMs, source.settleBucketMs), level);
  }
  for (const { row, raw, key } of kept) {
    const fp = fingerprint(row);
    let previous: ReturnType<typeof parseFingerprint> | undefined;
    if (previousOf) {
      const before = previousOf.get(key);
      if (before === fp) {
        unchanged++;
        continue;
      }
      if (before !== undefined) previous = parseFingerprint(before);
    }
    events.push(makeEvent({
      tenantId: source.tenantId, sourceId: source.id, api, collectedAt, fields: source.fields, row, collectedBy: slice.kind,
      ...(raw !== undefined ? { raw } : {}), ...(previous ? { previous } : {}),
    }));
    if (settling) {
      const b = bucketOf(receivedMs(row.receivedDateTime), source.settleBucketMs);
      let w = writes.get(b);
      if (!w) writes.set(b, (w = { keys: [], fps: [] }));
      w.keys.push(key);
      w.fps.push(fp);
    }
  }
  deps.telemetry.count('eventsReceived', events.length, { source: source.id });
  if (outside) deps.telemetry.count('discarded', outside, { source: source.id, reason: 'outside_slice', intentional: 'true' });
  if (repeats) deps.telemetry.count('discarded', repeats, { source: source.id, reason: 'page_boundary_repeat', intentional: 'true' });
  if (unchanged) deps.telemetry.count('discarded', unchanged, { source: source.id, reason: 'unchanged_on_reread', intentional: 'true' });
  return {
    ...(result.nextLink ? { nextLink: result.nextLink } : {}),
    boundaryKeys,
    oldestMs: Number.isFinite(oldest) ? oldest : 0,
    fetched: result.rows.length,
    events,
    ...(writes.size ? { seenWrites: [...writes].map(([bucket, w]) => ({ bucket, ...w })) } : {}),
  };
}

/** A row key as a 16-character hash (96 bits): boundary-repeat detection within one slice. */
export function boundaryHash(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
}

/** How long a bucket's merged seen-store is reused (clock time): the pages of one re-read share it. */
const SEEN_CACHE_MS = 10 * 60_000;
const seenCache = new Map<string, { at: number; map: Promise<Map<string, string>> }>();
function loadSeenCached(clock: Clock, store: SeenStore, sourceId: string, bucket: number, level: number): Promise<Map<string, string>> {
  const key = `${store.table.url}|${store.table.tableName}|${sourceId}|${bucket}|${level}`;
  const now = clock.now();
  const hit = seenCache.get(key);
  // An entry from the future (a clock set back, another collector's clock in one process) is not trusted.
  if (hit && now >= hit.at && now - hit.at < SEEN_CACHE_MS) return hit.map;
  const map = store.load(sourceId, bucket, level);
  seenCache.set(key, { at: now, map });
  map.catch(() => seenCache.delete(key));
  while (seenCache.size > 8) seenCache.delete(seenCache.keys().next().value!);
  return map;
}
