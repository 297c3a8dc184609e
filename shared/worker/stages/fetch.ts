/** The API request for a slice's current page, and the request itself (one token renewal on a 401). */
import type { SourceConfig } from '../../components';
import { CollectorError } from '../../errors';
import type { PageRequest, PageResult } from '../../api/client';
import type { SliceRow } from '../../state/ledger';
import type { StoredPage } from '../page-store';
import { priorityOf, type SourceClients, type WorkerDeps } from '../deps';

export function requestFor(slice: SliceRow, source: SourceConfig, carried: StoredPage | undefined): PageRequest {
  if (slice.page === 0) return { kind: 'window', startMs: slice.startMs, endMs: slice.endMs, top: source.pageSize };
  // Self-healed: re-query the rest of the slice (everything up to the oldest row received).
  if (slice.resumeUntil) return { kind: 'window', startMs: slice.startMs, endMs: Math.min(slice.endMs, slice.resumeUntil), top: source.pageSize };
  const link = slice.nextLink || carried?.nextLink;
  if (link) return { kind: 'continuation', url: link };
  return { kind: 'window', startMs: slice.startMs, endMs: slice.endMs, top: source.pageSize };
}

export async function fetchWithTokenRenewal(deps: WorkerDeps, clients: SourceClients, request: PageRequest, source: SourceConfig, slice: SliceRow, counted: () => void, signal?: AbortSignal): Promise<PageResult> {
  const attempt = async () => {
    counted();
    const started = performance.now();
    try {
      const r = await clients.api.fetchPage(request, signal ? { signal } : undefined);
      deps.telemetry.count('apiRequests', 1, { source: source.id, status: '200' });
      deps.telemetry.record('pageLatency', performance.now() - started, { source: source.id });
      if (r.bytes !== undefined) deps.telemetry.count('bytesReceived', r.bytes, { source: source.id });
      return r;
    } catch (err) {
      deps.telemetry.count('apiRequests', 1, { source: source.id, status: err instanceof CollectorError && err.statusCode ? String(err.statusCode) : 'error' });
      throw err;
    }
  };
  try {
    return await attempt();
  } catch (err) {
    // A 401 on a token that was valid: renew the credential once and retry.
    if (err instanceof CollectorError && err.statusCode === 401 && err.type === 'ThirdPartyGeneric' && !signal?.aborted) {
      clients.credential.renew();
      await deps.budget?.charge?.(source.tenantId, priorityOf(slice));
      return await attempt();
    }
    throw err;
  }
}
