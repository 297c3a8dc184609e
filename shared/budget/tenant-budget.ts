/**
 * The tenant request budget shared by every instance (ARCHITECTURE invariant 7, issue 5).
 *
 * Graph allows 100 requests per ROLLING 5 minutes per tenant, list and detail calls together
 * (reference B.7). A token bucket that allows a full burst plus refill can exceed a rolling limit
 * (a full bucket spent at t=299 s and refilled tokens spent at t=301 s put more than 100 requests
 * in one 5-minute span), so this is an exact sliding-window log: the entity keeps the grant time
 * of every request granted in the last window. A request is granted only while fewer than
 * `allowed` grants lie in (now - window, now], so no window of length `windowMs` ever holds more
 * than `allowed` grants (proof: any window ending at a grant time t contains the grants counted at
 * t plus t itself, and the check allowed at most allowed - 1 before it).
 *
 * One entity per tenant in table `<prefix>budget` (PartitionKey = tenant key, RowKey = 'budget'),
 * updated only by compare-and-swap (ETag If-Match), so racing instances never both take the last
 * slot: the loser re-reads and re-decides.
 *
 * Priorities: live > backfill > rescan > detail. Backfill and rescan only get what live collection does not
 * need, measured rather than guessed: a live request refused because the window is full records
 * that it waits (`liveWaits`: its key and the time it comes back), and backfill and rescan leave
 * one free slot per waiting live request, so the slots that free next go to live. A waiter's grant
 * removes it, and an entry lapses LIVE_WAIT_GRACE_MS after its time. While no live request waits,
 * backfill may use every slot live left, so no part of the budget stays idle for a live request
 * that is not coming. `minLiveReserve`
 * (default 0) keeps that many slots free for live at all times, for those who want live never to
 * wait at all. Rescan in addition yields `rescanYield` slots to backfill while a backfill is
 * running. Live may use every allowed slot.
 *
 * Detail requests (issue 17: getDetailsByRecipient) come last, after rescan, and must never make
 * a live, backfill or rescan request wait. A slot in a rolling window cannot be taken back once
 * granted, so a detail request gets one only when (1) no live request is waiting, (2) no live,
 * backfill or rescan request was refused recently (`demandUntil`: the time the last refused one
 * comes back, plus DEMAND_GRACE_MS), and (3) the window keeps a reserve after the grant:
 * max(`detailReserve`, ceil(`detailReserveFactor` x the non-detail grants in the window), the
 * busiest window of non-detail grants lately, decayed over PEAK_MEMORY_MS) free slots, so the
 * others can grow by that much, or come back with a burst as large as their last, before they
 * meet a detail grant. Refused detail
 * requests get tickets (`detailNextAt`): each comes back one detail slot after the previous one,
 * so a backlog of thousands of detail jobs costs one refusal per detail slot, not a stampede.
 * It is measured, not assumed: every refusal of a live, backfill or rescan request is decided a
 * second time without the detail grants in the window, and one that would then have been granted
 * counts in `waitedForDetail` (the entity's counter; `usage()`, the
 * `mtc.budget.waited_for_detail` gauge, the tests and the benchmark read it). The target is 0.
 *
 * A 429 with Retry-After pauses the tenant for every worker (`pause`). A refused caller never
 * sleeps: it re-enqueues its job with a visibility delay of `waitMs`.
 */
import { readSettings } from '../settings';
import type { TableClient } from '@azure/data-tables';
import type { Clock } from '../time/clock';
import { isStatus } from '../state/storage';

export type BudgetPriority = 'live' | 'backfill' | 'rescan' | 'detail';
export const BUDGET_PRIORITIES: readonly BudgetPriority[] = ['live', 'backfill', 'rescan', 'detail'];

/** `reserved-for-others`: a detail request refused to leave the slot to live, backfill or rescan. */
export type RefusalReason = 'window-full' | 'paused' | 'reserved-for-live' | 'reserved-for-others' | 'contended';

export type AcquireResult =
  | { granted: true }
  | {
    granted: false; waitMs: number; reason: RefusalReason;
    /** A live, backfill or rescan request that would have been granted without the detail grants in the window. */
    becauseOfDetail?: boolean;
  };

export interface BudgetUsage {
  /** Requests granted in the current rolling window (all priorities). */
  used: number;
  /** Requests the collector may use per window: floor(limit x (1 - headroom)). */
  allowed: number;
  /** The API's limit per window (before headroom). */
  limit: number;
  /** Epoch ms (clock time) until which the tenant is paused; 0 when not paused. */
  pausedUntil: number;
  pauseReason: string;
  windowMs: number;
  /** Grants in the current window by priority. */
  byPriority: Record<BudgetPriority, number>;
  /** Free slots backfill and rescan must always leave for live collection (minLiveReserve). */
  liveReserve: number;
  /** Live requests waiting for a slot right now (backfill and rescan leave a free slot for each). */
  liveWaiters: number;
  /**
   * Live, backfill and rescan requests refused so far that would have been granted without the
   * detail grants in the window (a counter kept in the entity since it was created). Target 0.
   */
  waitedForDetail: number;
  /** Until when detail requests yield to a refused live, backfill or rescan request (0: not now). */
  demandUntil: number;
  /** When the next refused detail request is told to come back (its ticket); 0 when none waits. */
  detailNextAt: number;
}

export interface TenantBudgetOptions {
  /** The API's requests per window per tenant. Default 100 (Graph, reference B.7). */
  limit?: number;
  /** The rolling window in ms. Default 300_000 (5 minutes). */
  windowMs?: number;
  /** Share of the limit left for admins and other tools, 0 <= headroom < 1. Default 0.1. */
  headroom?: number;
  /**
   * Free slots always kept for live collection (backfill and rescan may not take them). Default 0:
   * live priority comes from the live waiters (see the header), so no slot is kept idle. Set it to
   * let live requests never wait for a slot, at the cost of that many requests per window.
   */
  minLiveReserve?: number;
  /** Slots rescan leaves to backfill while a backfill holds grants in the window. Default 2. */
  rescanYield?: number;
  /** Free slots a detail grant must leave in the window, at least. Default 10. */
  detailReserve?: number;
  /**
   * A detail grant also leaves ceil(this x the live, backfill and rescan grants in the window)
   * free: room for the others to double (default 1) before they meet a detail grant.
   */
  detailReserveFactor?: number;
  /** Compare-and-swap attempts before a caller is told to come back (reason 'contended'). Default 12. */
  maxAttempts?: number;
  /** waitMs returned on 'contended'. Default 1000. */
  contendedWaitMs?: number;
}

export type ResolvedBudgetOptions = Required<TenantBudgetOptions> & { allowed: number };

/** Thrown for an invalid option or argument; the message names it and the fix. */
export class BudgetOptionError extends RangeError {
  override readonly name = 'BudgetOptionError';
  constructor(readonly option: string, message: string) {
    super(message);
  }
}

function checkNumber(name: string, value: unknown, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new BudgetOptionError(name, `TenantBudget option ${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export function resolveBudgetOptions(opts: TenantBudgetOptions = {}): ResolvedBudgetOptions {
  if (opts === null || typeof opts !== 'object') throw new BudgetOptionError('(options)', 'TenantBudget options must be an object (or omitted)');
  const known = new Set(['limit', 'windowMs', 'headroom', 'minLiveReserve', 'rescanYield', 'detailReserve', 'detailReserveFactor', 'maxAttempts', 'contendedWaitMs']);
  for (const k of Object.keys(opts)) {
    if (!known.has(k)) throw new BudgetOptionError(k, `Unknown TenantBudget option ${k}; use one of ${[...known].join(', ')}`);
  }
  const limit = checkNumber('limit', opts.limit ?? 100, 1, 10_000, true);
  const windowMs = checkNumber('windowMs', opts.windowMs ?? 300_000, 1, 86_400_000, true);
  const headroom = checkNumber('headroom', opts.headroom ?? 0.1, 0, 0.99, false);
  const allowed = Math.floor(limit * (1 - headroom));
  if (allowed < 1) throw new BudgetOptionError('headroom', `TenantBudget option headroom ${headroom} leaves no request of the limit ${limit}; lower the headroom`);
  const minLiveReserve = checkNumber('minLiveReserve', opts.minLiveReserve ?? 0, 0, allowed - 1, true);
  const rescanYield = checkNumber('rescanYield', opts.rescanYield ?? Math.min(2, allowed), 0, allowed, true);
  const detailReserve = checkNumber('detailReserve', opts.detailReserve ?? Math.min(10, allowed), 0, allowed, true);
  const detailReserveFactor = checkNumber('detailReserveFactor', opts.detailReserveFactor ?? 1, 0, 10, false);
  const maxAttempts = checkNumber('maxAttempts', opts.maxAttempts ?? 12, 1, 1000, true);
  const contendedWaitMs = checkNumber('contendedWaitMs', opts.contendedWaitMs ?? 1000, 1, 3_600_000, true);
  return { limit, windowMs, headroom, allowed, minLiveReserve, rescanYield, detailReserve, detailReserveFactor, maxAttempts, contendedWaitMs };
}

/** The table name of the budget: `<prefix>budget` (prefix from MTC_TABLE_PREFIX, default `mtc`). */
export function budgetTableName(env: NodeJS.ProcessEnv = process.env): string {
  // The prefix is checked where every setting is (shared/settings.ts): letters and digits, starting with a letter.
  return `${readSettings(env).tablePrefix}budget`;
}

const ROW_KEY = 'budget';
const PRIORITY_CODE: Record<BudgetPriority, string> = { live: 'l', backfill: 'b', rescan: 'r', detail: 'd' };
const CODE_PRIORITY: Record<string, BudgetPriority> = { l: 'live', b: 'backfill', r: 'rescan', d: 'detail' };

/** One granted request: clock time and priority. Kept oldest first. */
export interface Grant { at: number; priority: BudgetPriority }

export interface BudgetState {
  grants: Grant[];
  pausedUntil: number;
  pauseReason: string;
  /**
   * Live requests refused for a full window and waiting for a slot: waiter key (slice and page)
   * -> clock time it comes back. Backfill and rescan leave one free slot per waiter. A waiter's
   * grant removes it; it lapses LIVE_WAIT_GRACE_MS after its time (a lost job must not hold
   * backfill and rescan off for long).
   */
  liveWaits: Record<string, number>;
  /** Detail requests yield until then: a refused live, backfill or rescan request comes back (plus DEMAND_GRACE_MS). */
  demandUntil?: number;
  /** The ticket of the next refused detail request (clock time it is told to come back). */
  detailNextAt?: number;
  /** Refused live, backfill and rescan requests that the detail grants in the window made wait (cumulative). */
  waitedForDetail?: number;
  /** The most live, backfill and rescan grants one window held lately, and when (the reserve remembers bursts). */
  peakOthers?: number;
  peakAt?: number;
}

export const LIVE_WAIT_GRACE_MS = 30_000;
/** After a refused live, backfill or rescan request's return time, detail requests still yield this long. */
export const DEMAND_GRACE_MS = 30_000;
/** demandUntil is written only when it moves by at least this much (a busy backfill refused every second writes less). */
const DEMAND_WRITE_STEP_MS = 5_000;
/**
 * How long the reserve remembers the busiest window of live, backfill and rescan requests: it
 * decays to nothing over this time. Bursts recur (a settle bucket every hour, a backfill, a
 * catch-up after an outage), and a detail grant taken between two of them would make the next one wait.
 */
export const PEAK_MEMORY_MS = 3600_000;
/** Compare-and-swap attempts of a detail request: it gives way under contention instead of adding to it. */
const DETAIL_MAX_ATTEMPTS = 3;
/** At most this many live waiters are remembered per tenant (the oldest go first). */
const MAX_LIVE_WAITERS = 64;

function activeWaits(waits: Record<string, number>, now: number): Record<string, number> {
  const live = Object.entries(waits).filter(([, at]) => now < at + LIVE_WAIT_GRACE_MS).sort((a, b) => a[1] - b[1]);
  return Object.fromEntries(live.slice(-MAX_LIVE_WAITERS));
}

export type Decision =
  | { granted: true; state: BudgetState }
  | { granted: false; waitMs: number; reason: Exclude<RefusalReason, 'contended'>; state?: BudgetState; becauseOfDetail?: boolean };

/**
 * The pure decision for one acquire at `now` (exported for tests and the benchmark): prunes the
 * log and the live waiters, applies pause, the per-priority cap (backfill and rescan leave
 * minLiveReserve slots plus one per waiting live request; detail see `decideDetail`) and the
 * window. Returns the new state on a grant, and on a refusal that changes the entity (a live
 * waiter recorded or moved, the demand of a refused request, the waited-for-detail counter, a
 * detail ticket). `waiterKey` names the live request (the page worker passes slice and page); it
 * defaults to 'live'.
 */
export function decide(state: BudgetState, priority: BudgetPriority, now: number, o: ResolvedBudgetOptions, waiterKey = 'live'): Decision {
  const grants = pruned(state.grants, now, o.windowMs);
  if (state.pausedUntil > now) return { granted: false, waitMs: state.pausedUntil - now, reason: 'paused' };
  if (priority === 'detail') return decideDetail(state, grants, now, o);
  const waits = activeWaits(state.liveWaits, now);
  const used = grants.length;
  let cap = o.allowed;
  let reason: 'window-full' | 'reserved-for-live' = 'window-full';
  const waiters = Object.keys(waits).length;
  if (priority !== 'live') {
    cap = o.allowed - o.minLiveReserve - waiters;
    if (priority === 'rescan' && grants.some((g) => g.priority === 'backfill')) cap -= o.rescanYield;
    cap = Math.max(0, cap);
    if (used >= cap && used < o.allowed) reason = 'reserved-for-live';
  }
  if (used < cap) {
    const nextWaits = { ...waits };
    if (priority === 'live') delete nextWaits[waiterKey];
    const next: BudgetState = { ...state, grants: [...grants, { at: now, priority }], liveWaits: nextWaits };
    // The busiest window of the others lately (see PEAK_MEMORY_MS), for the detail reserve.
    const others = grants.reduce((n, g) => n + (g.priority === 'detail' ? 0 : 1), 1);
    if (others >= rememberedPeak(state, now)) Object.assign(next, { peakOthers: others, peakAt: now });
    return { granted: true, state: next };
  }
  // Refused: the window must lose (used - cap + 1) grants before this priority fits under its cap.
  // The (used - cap)-th oldest grant (0-based) leaves the window at its time + windowMs. A live
  // grant does not change used + waiters, so only a grant leaving (or a waiter lapsing) makes room.
  let waitMs = o.windowMs; // a cap of 0 with nothing granted (tiny budgets): try again next window
  if (used > 0) waitMs = Math.max(1, grants[Math.min(used - 1, used - cap)]!.at + o.windowMs - now + 1);
  if (priority !== 'live' && waiters > 0) waitMs = Math.min(waitMs, Math.max(1, Math.min(...Object.values(waits)) + LIVE_WAIT_GRACE_MS - now));
  // Would it have been granted without the detail grants in the window? Then detail made it wait.
  const becauseOfDetail = grants.some((g) => g.priority === 'detail')
    && decide({ ...state, grants: grants.filter((g) => g.priority !== 'detail') }, priority, now, o, waiterKey).granted;
  let next: BudgetState | undefined;
  if (priority === 'live' && reason === 'window-full' && waits[waiterKey] !== now + waitMs) {
    // Record (or move) this request's wait, so backfill and rescan leave the slot that frees to it.
    next = { ...state, grants, liveWaits: activeWaits({ ...waits, [waiterKey]: now + waitMs }, now) };
  }
  // Detail requests yield until this request has come back (and a little after). Written only
  // while detail requests are about (a grant in the window, or a ticket handed out in the last
  // window): a tenant without detail enrichment writes nothing more on a refusal than before.
  const detailsAbout = grants.some((g) => g.priority === 'detail') || (state.detailNextAt ?? 0) > now - o.windowMs;
  const demandUntil = now + waitMs + DEMAND_GRACE_MS;
  if (detailsAbout && demandUntil >= (state.demandUntil ?? 0) + DEMAND_WRITE_STEP_MS) next = { ...(next ?? { ...state, grants }), demandUntil };
  if (becauseOfDetail) next = { ...(next ?? { ...state, grants }), waitedForDetail: (state.waitedForDetail ?? 0) + 1 };
  return { granted: false, waitMs, reason, ...(next ? { state: next } : {}), ...(becauseOfDetail ? { becauseOfDetail } : {}) };
}

/**
 * The free slots a detail grant leaves in the window when `nonDetail` live, backfill and rescan
 * grants are in it and the busiest window of those lately held `peak` (decayed).
 */
export function detailReserveFor(nonDetail: number, o: ResolvedBudgetOptions, peak = 0): number {
  return Math.max(o.detailReserve, Math.ceil(o.detailReserveFactor * nonDetail), Math.ceil(peak));
}

/** The busiest window of live, backfill and rescan grants lately, decayed linearly to 0 over PEAK_MEMORY_MS. */
export function rememberedPeak(state: Pick<BudgetState, 'peakOthers' | 'peakAt'>, now: number): number {
  const age = Math.max(0, now - (state.peakAt ?? 0));
  return age >= PEAK_MEMORY_MS ? 0 : (state.peakOthers ?? 0) * (1 - age / PEAK_MEMORY_MS);
}

/**
 * A detail request (see the header): granted only with no live waiter, no recent refusal of a
 * live, backfill or rescan request, and the reserve left free after it. A refusal hands out the
 * next ticket: come back at max(when the window could take it, the previous ticket + one detail
 * slot), so refused detail jobs return one per detail slot.
 */
function decideDetail(state: BudgetState, grants: Grant[], now: number, o: ResolvedBudgetOptions): Decision {
  const waits = activeWaits(state.liveWaits, now);
  const waitTimes = Object.values(waits);
  const nonDetail = grants.reduce((n, g) => n + (g.priority === 'detail' ? 0 : 1), 0);
  const cap = Math.max(0, o.allowed - o.minLiveReserve - detailReserveFor(nonDetail, o, rememberedPeak(state, now)));
  const used = grants.length;
  let waitMs: number;
  let reason: 'window-full' | 'reserved-for-live' | 'reserved-for-others';
  if (waitTimes.length) {
    waitMs = Math.max(1, Math.min(...waitTimes) + LIVE_WAIT_GRACE_MS - now);
    reason = 'reserved-for-live';
  } else if ((state.demandUntil ?? 0) > now) {
    waitMs = state.demandUntil! - now;
    reason = 'reserved-for-others';
  } else if (used < cap) {
    return { granted: true, state: { ...state, grants: [...grants, { at: now, priority: 'detail' }], liveWaits: waits } };
  } else {
    waitMs = used > 0 && cap > 0 ? Math.max(1, grants[Math.min(used - 1, used - cap)]!.at + o.windowMs - now + 1) : o.windowMs;
    reason = used >= o.allowed ? 'window-full' : 'reserved-for-others';
  }
  // One detail slot: the most detail requests a window can take (with no other request in it),
  // spread over the window. While the others use more, returning tickets are refused and queue
  // again; the spacing never stretches the queue for a capacity that is only low for a while.
  const spacing = Math.ceil(o.windowMs / Math.max(1, o.allowed - o.minLiveReserve - o.detailReserve));
  const at = Math.max(now + waitMs, state.detailNextAt ?? 0);
  return { granted: false, waitMs: at - now, reason, state: { ...state, grants, liveWaits: waits, detailNextAt: at + spacing } };
}

function pruned(grants: Grant[], now: number, windowMs: number): Grant[] {
  const cutoff = now - windowMs;
  // Keep grants with at > cutoff: a grant at exactly now - windowMs has left the rolling window.
  // A grant "in the future" (another instance's clock a little ahead) is kept and counts.
  return grants.filter((g) => g.at > cutoff).sort((a, b) => a.at - b.at);
}

/**
 * The grant log, bounded whatever the limit (ARCHITECTURE invariant 9): grants are grouped per
 * priority into buckets of grantBucketMs and stored as counts. A grant is recorded at the END of
 * its bucket, so it stays in the window a little longer than it really does: the count of any
 * rolling window can only be overestimated, never under, and the limit is still never exceeded.
 * At most (windowMs / grantBucketMs + 1) buckets x 4 priorities, ~7 characters each: under 17K
 * characters for any window and limit (the default 5-minute window: 1 s buckets, under 9K).
 */
export function grantBucketMs(windowMs: number): number {
  return Math.max(1000, Math.ceil(windowMs / 600));
}

export function encodeGrants(grants: Grant[], windowMs: number): string {
  const width = grantBucketMs(windowMs);
  const groups = new Map<string, { code: string; bucket: number; count: number }>();
  for (const g of grants) {
    const bucket = Math.ceil(g.at / width);
    const code = PRIORITY_CODE[g.priority];
    const key = `${code}${bucket}`;
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { code, bucket, count: 1 });
  }
  if (!groups.size) return '';
  const sorted = [...groups.values()].sort((a, b) => a.bucket - b.bucket);
  const base = sorted[0]!.bucket;
  // "2|<bucket width base36>|<first bucket base36>|l0*3,b1,..." (offset base36, count when > 1)
  return `2|${width.toString(36)}|${base.toString(36)}|${sorted.map((g) => `${g.code}${(g.bucket - base).toString(36)}${g.count > 1 ? `*${g.count.toString(36)}` : ''}`).join(',')}`;
}

export function decodeGrants(text: unknown): Grant[] {
  if (typeof text !== 'string' || text === '') return [];
  const out: Grant[] = [];
  if (text.startsWith('2|')) {
    const [, widthText, baseText, list] = text.split('|');
    const width = parseInt(widthText ?? '', 36);
    const base = parseInt(baseText ?? '', 36);
    if (!(width > 0) || !Number.isFinite(base)) return [];
    for (const part of (list ?? '').split(',')) {
      const m = /^([lbrd])([0-9a-z]+)(?:\*([0-9a-z]+))?$/.exec(part);
      if (!m) continue;
      const priority = CODE_PRIORITY[m[1]!]!;
      const at = (base + parseInt(m[2]!, 36)) * width;
      const count = m[3] ? parseInt(m[3], 36) : 1;
      for (let i = 0; i < count; i++) out.push({ at, priority });
    }
    return out.sort((a, b) => a.at - b.at);
  }
  // Written by an earlier version: "l:1780000000000,b:1780000000123,..."
  for (const part of text.split(',')) {
    const [code, at] = part.split(':');
    const priority = CODE_PRIORITY[code ?? ''];
    const ms = Number(at);
    if (priority && Number.isFinite(ms)) out.push({ at: ms, priority });
  }
  return out.sort((a, b) => a.at - b.at);
}

function decodeWaits(text: unknown): Record<string, number> {
  if (typeof text !== 'string' || text === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
  } catch {
    return {}; // a damaged entry only costs live its priority for one wait
  }
}

interface Loaded { state: BudgetState; etag: string | undefined }

/**
 * The tenant budget: one instance per process is enough. Every decision is one compare-and-swap of
 * the shared entity. The instance remembers the entity as it last read or wrote it (state and
 * ETag, per tenant): a grant decides on that copy and writes with its ETag, so when no other
 * process wrote since, a grant costs one write instead of a read and a write (issue 19); when
 * another did, the write fails on the ETag and the decision is made again on a fresh read, as
 * before. After such a miss the next COPY_SKIP_AFTER_MISS acquires of that tenant read first, so a
 * tenant that many busy instances share pays at most one failed write per that many grants.
 */
export class TenantBudget {
  readonly options: ResolvedBudgetOptions;
  /** The entity as this instance last read or wrote it, per tenant. */
  private readonly known = new Map<string, Loaded>();
  /** Per tenant: acquires left that read first (after a decision on the copy lost its write). */
  private readonly skipCopy = new Map<string, number>();
  /** Reads and writes saved by the remembered copy, and writes it lost (for tests and the benchmark). */
  readonly cacheStats = { hits: 0, misses: 0 };
  constructor(
    private readonly table: TableClient,
    private readonly clock: Clock,
    opts: TenantBudgetOptions = {},
  ) {
    this.options = resolveBudgetOptions(opts);
  }

  /** Creates the budget table if it does not exist (the runtime's storage.ensure can do it instead). */
  async ensureTable(): Promise<void> {
    await this.table.createTable();
  }

  /**
   * Asks for one request slot for `tenantKey` at `priority`. On a grant the caller sends exactly
   * one request; on a refusal it re-enqueues its job with a visibility delay of `waitMs`.
   */
  async acquire(tenantKey: string, priority: BudgetPriority, waiterKey?: string): Promise<AcquireResult> {
    checkTenantKey(tenantKey);
    if (!BUDGET_PRIORITIES.includes(priority)) {
      throw new BudgetOptionError('priority', `TenantBudget.acquire priority must be 'live', 'backfill', 'rescan' or 'detail', got ${String(priority)}`);
    }
    // One more attempt than configured when the first decides on the remembered copy (a miss there is not contention).
    const skip = this.skipCopy.get(tenantKey) ?? 0;
    if (skip > 0) this.skipCopy.set(tenantKey, skip - 1);
    const remembered = skip > 0 ? undefined : this.known.get(tenantKey);
    const attempts = (priority === 'detail' ? Math.min(DETAIL_MAX_ATTEMPTS, this.options.maxAttempts) : this.options.maxAttempts) + (remembered ? 1 : 0);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const fromCopy = attempt === 0 && remembered?.etag !== undefined;
      const loaded = fromCopy ? remembered! : await this.load(tenantKey);
      const d = decide(loaded.state, priority, this.clock.now(), this.options, waiterKey);
      if (fromCopy && !d.granted && !d.state) {
        // A refusal decided on the copy writes nothing, so nothing would catch a stale copy: decide on a fresh read.
        continue;
      }
      if (!d.granted) {
        // A refusal that changes the entity (a live waiter, the demand, the counter, a detail
        // ticket) writes it; if another instance wrote first, decide again.
        if (d.state && !(await this.storeCounted(tenantKey, d.state, loaded.etag, fromCopy))) continue;
        return { granted: false, waitMs: d.waitMs, reason: d.reason, ...(d.becauseOfDetail ? { becauseOfDetail: true } : {}) };
      }
      if (await this.storeCounted(tenantKey, d.state, loaded.etag, fromCopy)) return { granted: true };
    }
    // A detail request that met contention comes back a little later (spread, so they do not meet again).
    const wait = priority === 'detail' ? Math.round(this.options.contendedWaitMs * (2 + 3 * Math.random())) : this.options.contendedWaitMs;
    return { granted: false, waitMs: wait, reason: 'contended' };
  }

  /**
   * Records `count` requests that were sent without an acquire (the one retry after a 401 token
   * renewal, a detail call made inline). Always succeeds: the requests already happened.
   */
  async charge(tenantKey: string, priority: BudgetPriority, count = 1): Promise<void> {
    checkTenantKey(tenantKey);
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new BudgetOptionError('count', `TenantBudget.charge count must be an integer from 1 to 1000, got ${String(count)}`);
    await this.update(tenantKey, (s, now) => ({
      ...s,
      grants: [...pruned(s.grants, now, this.options.windowMs), ...Array.from({ length: count }, () => ({ at: now, priority }))],
    }));
  }

  /**
   * Pauses the tenant for every worker until `untilMs` (clock time), e.g. after a 429 with
   * Retry-After: `pause(tenant, clock.now() + retryAfterSec * 1000, '429')`. A pause never
   * shortens an existing one.
   */
  async pause(tenantKey: string, untilMs: number, reason: string): Promise<void> {
    checkTenantKey(tenantKey);
    if (!Number.isFinite(untilMs)) throw new BudgetOptionError('untilMs', `TenantBudget.pause untilMs must be epoch milliseconds (clock time), got ${String(untilMs)}`);
    const why = String(reason ?? '').slice(0, 200);
    await this.update(tenantKey, (s, now) => (untilMs <= s.pausedUntil || untilMs <= now
      ? undefined
      : { ...s, grants: pruned(s.grants, now, this.options.windowMs), pausedUntil: untilMs, pauseReason: why }));
  }

  /** The tenant's current usage (for health, telemetry's mtc.budget.utilisation and the benchmark). */
  async usage(tenantKey: string): Promise<BudgetUsage> {
    checkTenantKey(tenantKey);
    const { state } = await this.load(tenantKey);
    return this.usageOf(state);
  }

  /**
   * Every tenant's usage, by one query over the budget table (one request per 1000 tenants, not
   * one per tenant): the planner's timer run sets every source's budget gauge from it
   * (shared/planning/prefetch.ts). `none` is the usage of a tenant with no row yet (nothing used).
   */
  async usageAll(): Promise<{ tenants: Map<string, BudgetUsage>; none: BudgetUsage }> {
    const tenants = new Map<string, BudgetUsage>();
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `RowKey eq '${ROW_KEY}'` } })) {
      tenants.set(String(e.partitionKey), this.usageOf(stateOfEntity(e)));
    }
    return { tenants, none: this.usageOf(EMPTY_STATE) };
  }

  private usageOf(state: BudgetState): BudgetUsage {
    const now = this.clock.now();
    const grants = pruned(state.grants, now, this.options.windowMs);
    const byPriority: Record<BudgetPriority, number> = { live: 0, backfill: 0, rescan: 0, detail: 0 };
    for (const g of grants) byPriority[g.priority]++;
    return {
      used: grants.length,
      allowed: this.options.allowed,
      limit: this.options.limit,
      pausedUntil: state.pausedUntil > now ? state.pausedUntil : 0,
      pauseReason: state.pausedUntil > now ? state.pauseReason : '',
      windowMs: this.options.windowMs,
      byPriority,
      liveReserve: this.options.minLiveReserve,
      liveWaiters: Object.keys(activeWaits(state.liveWaits, now)).length,
      waitedForDetail: state.waitedForDetail ?? 0,
      demandUntil: (state.demandUntil ?? 0) > now ? state.demandUntil! : 0,
      detailNextAt: (state.detailNextAt ?? 0) > now ? state.detailNextAt! : 0,
    };
  }

  private async update(tenantKey: string, change: (s: BudgetState, now: number) => BudgetState | undefined): Promise<void> {
    // Unconditional intent, so retry until the write lands (bounded: a lost race means progress elsewhere).
    for (let attempt = 0; attempt < this.options.maxAttempts * 4; attempt++) {
      const loaded = await this.load(tenantKey);
      const next = change(loaded.state, this.clock.now());
      if (!next) return;
      if (await this.store(tenantKey, next, loaded.etag)) return;
    }
    throw new Error(`TenantBudget: could not update the budget of tenant ${tenantKey} after ${this.options.maxAttempts * 4} compare-and-swap attempts`);
  }

  private async load(tenantKey: string): Promise<Loaded> {
    let loaded: Loaded;
    try {
      const e = await this.table.getEntity<Record<string, unknown>>(tenantKey, ROW_KEY);
      loaded = { state: stateOfEntity(e), etag: String(e.etag) };
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      loaded = { state: { ...EMPTY_STATE, grants: [], liveWaits: {} }, etag: undefined };
    }
    this.known.set(tenantKey, loaded);
    return loaded;
  }

  /** store(), counting whether a decision made on the remembered copy held. */
  private async storeCounted(tenantKey: string, s: BudgetState, etag: string | undefined, fromCopy: boolean): Promise<boolean> {
    const ok = await this.store(tenantKey, s, etag);
    if (fromCopy) this.cacheStats[ok ? 'hits' : 'misses']++;
    if (fromCopy && !ok) this.skipCopy.set(tenantKey, COPY_SKIP_AFTER_MISS);
    return ok;
  }

  /** Compare-and-swap: create when there was no entity, else replace if the ETag still matches. */
  private async store(tenantKey: string, s: BudgetState, etag: string | undefined): Promise<boolean> {
    const entity = {
      partitionKey: tenantKey, rowKey: ROW_KEY, grants: encodeGrants(s.grants, this.options.windowMs), pausedUntil: s.pausedUntil, pauseReason: s.pauseReason, liveWaits: JSON.stringify(s.liveWaits),
      demandUntil: s.demandUntil ?? 0, detailNextAt: s.detailNextAt ?? 0, waitedForDetail: s.waitedForDetail ?? 0,
      peakOthers: s.peakOthers ?? 0, peakAt: s.peakAt ?? 0,
    };
    try {
      const r = etag === undefined ? await this.table.createEntity(entity) : await this.table.updateEntity(entity, 'Replace', { etag });
      // What was written, decoded as a read would decode it, with its new ETag.
      if (r.etag) this.known.set(tenantKey, { state: stateOfEntity(entity), etag: r.etag });
      else this.known.delete(tenantKey);
      return true;
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 409) || (etag !== undefined && isStatus(err, 404))) {
        this.known.delete(tenantKey);
        return false;
      }
      throw err;
    }
  }
}

/** The state of a tenant with no budget row yet. */
const EMPTY_STATE: BudgetState = Object.freeze({ grants: [], pausedUntil: 0, pauseReason: '', liveWaits: {}, demandUntil: 0, detailNextAt: 0, waitedForDetail: 0 });

/** Acquires that read first after a decision on the remembered copy lost its write (TenantBudget). */
export const COPY_SKIP_AFTER_MISS = 8;

/** The budget state an entity holds (as read, or as just written). */
function stateOfEntity(e: Record<string, unknown>): BudgetState {
  return {
    grants: decodeGrants(e.grants), pausedUntil: Number(e.pausedUntil ?? 0) || 0, pauseReason: String(e.pauseReason ?? ''), liveWaits: decodeWaits(e.liveWaits),
    demandUntil: Number(e.demandUntil ?? 0) || 0, detailNextAt: Number(e.detailNextAt ?? 0) || 0, waitedForDetail: Number(e.waitedForDetail ?? 0) || 0,
    peakOthers: Number(e.peakOthers ?? 0) || 0, peakAt: Number(e.peakAt ?? 0) || 0,
  };
}

function checkTenantKey(tenantKey: string): void {
  // PartitionKey rules: no / \ # ? or control characters, at most 1 KiB.
  if (typeof tenantKey !== 'string' || tenantKey === '' || tenantKey.length > 256 || /[/\\#?]/.test(tenantKey) || [...tenantKey].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))) {
    throw new BudgetOptionError('tenantKey', `TenantBudget tenantKey must be 1 to 256 characters without / \\ # ? or control characters (use the tenant id), got ${JSON.stringify(String(tenantKey)).slice(0, 80)}`);
  }
}
