/**
 * Plain-HTTP helpers for the simulator tests: a token from the simulated Entra endpoint, then
 * GETs against Graph and RWS. Deliberately dumb (fetch), like a collector's wire traffic.
 */
import { ManualClock } from '../../shared/time/clock';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index';

/** A fixed "now" for ManualClock tests: 2026-03-01T00:00:00Z. */
export const T0 = Date.parse('2026-03-01T00:00:00Z');
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export async function startTestSimulator(options: SimulatorOptions = {}): Promise<{ sim: Simulator; clock: ManualClock; tenantId: string }> {
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock(T0);
  const sim = await startSimulator({ ...options, clock });
  return { sim, clock, tenantId: sim.tenants[0]!.tenantId };
}

export async function getToken(sim: Simulator, resource = 'https://graph.microsoft.com', tenantIndex = 0): Promise<string> {
  const t = sim.tenants[tenantIndex]!;
  const res = await fetch(`${sim.authorityHost}/${t.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret, scope: `${resource}/.default` }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token request failed with ${res.status}`);
  return body.access_token;
}

export interface WireResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function get(url: string, token: string | undefined, headers: Record<string, string> = {}): Promise<WireResponse> {
  const res = await fetch(url, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** ISO literal for `le`: the last tick before `endMs`, so [start, end) maps to inclusive ge/le. */
export function lastTickBefore(endMs: number): string {
  return new Date(endMs - 1).toISOString().replace('Z', '9999Z');
}

export function graphListUrl(sim: Simulator, query: string, version: 'v1.0' | 'beta' = 'v1.0'): string {
  return `${sim.graphBaseUrl}/${version}/admin/exchange/tracing/messageTraces${query ? '?' + query : ''}`;
}

export function windowFilter(startMs: number, endMs: number): string {
  return `$filter=${encodeURIComponent(`receivedDateTime ge ${new Date(startMs).toISOString()} and receivedDateTime le ${lastTickBefore(endMs)}`)}`;
}

/** Follows @odata.nextLink to the end; returns every row of every page and the page count. */
export async function readAllPages(firstUrl: string, token: string, headers: Record<string, string> = {}): Promise<{ rows: any[]; pages: number }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const rows: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  let url: string | undefined = firstUrl;
  let pages = 0;
  while (url) {
    const r = await get(url, token, headers);
    if (r.status !== 200) throw new Error(`page ${pages + 1} answered ${r.status}: ${r.text.slice(0, 300)}`);
    pages++;
    rows.push(...r.json.value);
    url = r.json['@odata.nextLink'];
    if (pages > 10_000) throw new Error('paging did not terminate');
  }
  return { rows, pages };
}

export function uniqueKeys(rows: { id: string; recipientAddress: string }[]): Set<string> {
  return new Set(rows.map((r) => `${r.id}|${r.recipientAddress.toLowerCase()}`));
}
