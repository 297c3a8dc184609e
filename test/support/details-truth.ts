/**
 * Ground truth for detail enrichment tests, taken independently of the collector:
 *
 * - `DetailTruth`: a twin of the test's simulator (the same options and seed, so the same traffic),
 *   on its own clock, asked over plain HTTP with its own token what `getDetailsByRecipient`
 *   answered for a row at the instant the collector asked: whatever the simulator answers (its
 *   events, their number), the test compares against it, never against hard-coded event names.
 * - `BudgetRecorder`: every acquire and charge of the tenant budget as the worker saw it, so a test
 *   can rebuild the rolling window on its own and check that no live, backfill or rescan refusal
 *   had a detail grant to blame.
 */
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator';
import type { MessageTraceDetail, TraceEvent } from '../../shared/model/row';
import { isDetailEvent } from '../../shared/model/row';
import type { BudgetGate, RequestPriority } from '../../shared/worker/deps';

export class DetailTruth {
  private readonly tokens = new Map<number, { value: string; at: number }>();
  private constructor(readonly twin: Simulator, private readonly clock: { at: number }) {}

  /** A twin of a simulator started with `options` (clock and https are the twin's own). */
  static async start(options: Omit<SimulatorOptions, 'https' | 'clock'>): Promise<DetailTruth> {
    // A clock the twin reads and the test sets to any instant, forwards or back.
    const clock = { at: 0 };
    const twinClock = { now: () => clock.at, toRealMs: () => 0, sleep: async () => {}, describe: () => 'twin' };
    const twin = await startSimulator({ ...options, https: false, clock: twinClock, tokenLifetimeSec: 86_400, throttle: { limit: 1_000_000, windowMs: 300_000 } } as SimulatorOptions);
    return new DetailTruth(twin, clock);
  }

  /** The simulator's answer for (trace id, recipient) at `atMs`, all pages. */
  async details(traceId: string, recipientAddress: string, atMs: number, version = 'v1.0', tenant = 0): Promise<MessageTraceDetail[]> {
    // A token issued two hours before (valid 24 hours) serves the instants of the next twenty.
    let token = this.tokens.get(tenant);
    if (!token || atMs < token.at || atMs > token.at + 20 * 3600_000) {
      this.clock.at = atMs - 2 * 3600_000;
      token = { value: await this.fetchToken(tenant), at: this.clock.at };
      this.tokens.set(tenant, token);
    }
    this.clock.at = atMs;
    let url: string | undefined = `${this.twin.graphBaseUrl}/${version}/admin/exchange/tracing/messageTraces/${encodeURIComponent(traceId)}/getDetailsByRecipient(recipientAddress='${encodeURIComponent(recipientAddress.replace(/'/g, "''"))}')`;
    const out: MessageTraceDetail[] = [];
    while (url) {
      const res: Response = await fetch(url, { headers: { authorization: `Bearer ${token.value}` } });
      const body = (await res.json()) as { value?: MessageTraceDetail[]; '@odata.nextLink'?: string };
      if (res.status !== 200 || !Array.isArray(body.value)) throw new Error(`the twin simulator answered ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
      out.push(...body.value);
      url = body['@odata.nextLink'];
    }
    return out;
  }

  private async fetchToken(tenant: number): Promise<string> {
    const t = this.twin.tenants[tenant]!;
    const res = await fetch(`${this.twin.authorityHost}/${t.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret, scope: 'https://graph.microsoft.com/.default' }),
    });
    const body = (await res.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`the twin's token request answered ${res.status}`);
    return body.access_token;
  }

  stop(): Promise<void> {
    return this.twin.stop();
  }
}

/** Detail events grouped by the trace event they explain (row key + status), each group in detail order. */
export function detailSets(events: readonly TraceEvent[]): Map<string, TraceEvent[]> {
  const sets = new Map<string, TraceEvent[]>();
  for (const e of events) {
    if (!isDetailEvent(e)) continue;
    let s = sets.get(e.traceEventId);
    if (!s) sets.set(e.traceEventId, (s = []));
    s.push(e);
  }
  for (const s of sets.values()) s.sort((a, b) => Number(a.detailIndex) - Number(b.detailIndex));
  return sets;
}

export interface BudgetCall {
  at: number;
  priority: RequestPriority;
  granted: boolean;
  reason?: string;
  waitMs?: number;
  key?: string;
  /** A charge (a request sent without an acquire). */
  charged?: boolean;
}

/** Wraps a budget gate and records what it answered. */
export function recordBudget(gate: BudgetGate, now: () => number): { gate: BudgetGate; calls: BudgetCall[] } {
  const calls: BudgetCall[] = [];
  return {
    calls,
    gate: {
      async acquire(tenant, priority, key) {
        const r = await gate.acquire(tenant, priority, key);
        calls.push({ at: now(), priority, granted: r.granted, ...(key ? { key } : {}), ...(r.granted ? {} : { reason: r.reason, waitMs: r.waitMs }) });
        return r;
      },
      pause: (tenant, until, reason) => gate.pause(tenant, until, reason),
      async charge(tenant, priority, count = 1) {
        await gate.charge?.(tenant, priority, count);
        for (let i = 0; i < count; i++) calls.push({ at: now(), priority, granted: true, charged: true });
      },
    },
  };
}

/**
 * Rebuilds the window from the recorded calls alone and returns the live, backfill and rescan
 * refusals a detail grant is to blame for: refusals that would have been granted had the detail
 * grants in the window not been there (grants counted at the end of their second, as the budget
 * stores them; live waiters from the recorded live refusals; backfill leaves one slot per waiter).
 */
export function refusalsBlamingDetail(calls: readonly BudgetCall[], o: { allowed: number; windowMs: number; minLiveReserve?: number; rescanYield?: number }): BudgetCall[] {
  const bucket = Math.max(1000, Math.ceil(o.windowMs / 600));
  const grants = calls.map((c, i) => ({ i, granted: c.granted, at: Math.ceil(c.at / bucket) * bucket, priority: c.priority })).filter((g) => g.granted);
  const blamed: BudgetCall[] = [];
  calls.forEach((c, i) => {
    if (c.granted || c.priority === 'detail' || c.reason === 'paused' || c.reason === 'contended') return;
    // The grants made before this request, still in its window.
    const inWindow = grants.filter((g) => g.i < i && g.at > c.at - o.windowMs);
    const detail = inWindow.filter((g) => g.priority === 'detail').length;
    if (!detail) return;
    const others = inWindow.length - detail;
    let cap = o.allowed;
    if (c.priority !== 'live') {
      // Live waiters at this instant: live refusals before it, not granted since, not lapsed (30 s after their time).
      const waiters = new Set<string>();
      for (const w of calls.slice(0, i)) {
        if (w.priority !== 'live' || !w.key) continue;
        if (!w.granted && w.reason === 'window-full' && w.at + (w.waitMs ?? 0) + 30_000 > c.at) waiters.add(w.key);
        if (w.granted) waiters.delete(w.key);
      }
      cap = o.allowed - (o.minLiveReserve ?? 0) - waiters.size;
      if (c.priority === 'rescan' && inWindow.some((g) => g.priority === 'backfill')) cap -= o.rescanYield ?? 2;
    }
    if (others < cap) blamed.push(c);
  });
  return blamed;
}
