/**
 * The simulated mail flow of a tenant: a seeded, deterministic and LAZY generator.
 *
 * Time is cut into 5-minute buckets. The rows of a bucket come from a PRNG seeded by
 * (seed, tenant index, bucket number), so any bucket can be produced on demand, in any order, and
 * always identically. Recently used buckets are cached (bounded by a row budget), so a tenant at
 * 1M rows/day over 90 days (90M rows) never has to exist in memory at once.
 *
 * Each row is one recipient of one message (reference B.5: one row per recipient, the id shared
 * by all recipients). Rows become visible late (A.7: up to 24 h) and some start as
 * pending/gettingStatus and later turn into a final status (A.7, F "Latency model").
 */
import { compareInstant, formatInstant, parseInstant, type Instant } from './instant';
import { hash32, hashString, Prng } from './prng';

export const BUCKET_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export type FinalStatus = 'delivered' | 'failed' | 'quarantined' | 'filteredAsSpam' | 'expanded' | 'recalled';
export type TransientStatus = 'pending' | 'gettingStatus';
export type TraceStatus = FinalStatus | TransientStatus;
export type Direction = 'inbound' | 'outbound' | 'internal';
export type ReceivedPrecision = 'seconds' | 'millis' | 'ticks7';

export interface TrafficOptions {
  /** Average rows (message x recipient) per day. */
  rowsPerDay: number;
  /** The tenant's accepted domains; the first is the primary one. Default: a per-tenant set such as contoso.com. */
  acceptedDomains: string[];
  /** How many mailboxes the tenant has (senders and recipients of inbound and internal mail). */
  internalUsers: number;
  /** Recipients per message: weights of "single" (1), "few" (2..fewMax) and "many" (manyMin..manyMax). */
  recipientsPerMessage: { single: number; few: number; many: number; fewMax: number; manyMin: number; manyMax: number };
  /** Direction mix (weights). */
  direction: { inbound: number; outbound: number; internal: number };
  /** Final status mix (weights). `recalled` defaults to 0. */
  status: Record<FinalStatus, number>;
  /** Share of rows that first show pending/gettingStatus, and how long until their final status. */
  transient: { fraction: number; minDelayMs: number; maxDelayMs: number };
  /** Message sizes in bytes (log-normal around the median, clamped). */
  size: { minBytes: number; medianBytes: number; maxBytes: number };
  /** Share of IP addresses that are IPv6. */
  ipv6Fraction: number;
  /** Delay between a row's receivedDateTime and the moment queries can see it (reference A.7: up to 24 h). */
  visibilityDelay: { minMs: number; maxMs: number; distribution?: 'uniform' | 'exponential'; meanMs?: number };
  /** false: flat; true: a business-hours curve (UTC); or 24 hourly weights. */
  dailyCurve: boolean | number[];
  /**
   * Mails to large distribution lists: one message to thousands of recipients, every row stamped
   * with the SAME receivedDateTime (one tick, so one millisecond). `perDay` is the average count,
   * placed by the seeded PRNG (deterministic); `at` places one at a given instant (tests).
   */
  distributionLists: DistributionListOptions;
  /**
   * Changes between two reads of the same page (A.7: rows appear late and statuses change, timed
   * here adversarially). `lateRowFraction` of rows stay hidden until a Graph or RWS page covering
   * their timestamp has been served, and are visible from the next request on (a late arrival in
   * the middle of a page already read); `statusChangeFraction` of rows are served with a transient
   * status (pending or gettingStatus) until a page has served them once, then with their final
   * one. Both fall back to the clock: hidden rows show at the latest `latestMs` after they were
   * received, and the transient status ends then too.
   */
  rereadChanges: { lateRowFraction: number; statusChangeFraction: number; latestMs: number };
  /** Rows placed exactly as given (tests: a row stamped exactly on a slice boundary). In ground truth too. */
  injectedRows: InjectedRow[];
}

export interface DistributionListOptions {
  /** Average distribution-list mails per day (0: none). */
  perDay: number;
  /** Recipients of each scheduled mail: uniform in [recipientsMin, recipientsMax]. */
  recipientsMin: number;
  recipientsMax: number;
  /** Mails placed at exact instants (ISO 8601, up to 7 fractional digits). */
  at: { at: string; recipients: number }[];
}

/** A row placed by a test. Missing fields are filled deterministically. */
export interface InjectedRow {
  /** ISO 8601 with up to 7 fractional digits, e.g. 2026-03-01T10:00:00.0000000Z. */
  receivedDateTime: string;
  recipientAddress?: string;
  senderAddress?: string;
  subject?: string;
  /** Final status; default delivered. */
  status?: FinalStatus;
  /** Several rows with the same `message` number share one trace id (one message, several recipients). */
  message?: number;
  /** Visible this many ms after receivedDateTime (default 0). */
  visibleAfterMs?: number;
}

const TENANT_DOMAINS = [
  ['contoso.com', 'contoso.onmicrosoft.com'],
  ['fabrikam.com', 'fabrikam.onmicrosoft.com'],
  ['northwindtraders.com', 'northwind.onmicrosoft.com'],
  ['adatum.com', 'adatum.onmicrosoft.com'],
  ['tailspintoys.com', 'tailspin.onmicrosoft.com'],
  ['woodgrovebank.com', 'woodgrove.onmicrosoft.com'],
  ['litwareinc.com', 'litware.onmicrosoft.com'],
  ['wingtiptoys.com', 'wingtip.onmicrosoft.com'],
];

export function defaultTrafficOptions(tenantIndex: number): TrafficOptions {
  const pair = TENANT_DOMAINS[tenantIndex % TENANT_DOMAINS.length]!;
  const n = Math.floor(tenantIndex / TENANT_DOMAINS.length);
  const domains = n === 0 ? [...pair] : pair.map((d) => d.replace('.', `${n + 1}.`));
  return {
    rowsPerDay: 50_000,
    acceptedDomains: domains,
    internalUsers: 250,
    recipientsPerMessage: { single: 0.88, few: 0.115, many: 0.005, fewMax: 10, manyMin: 50, manyMax: 120 },
    direction: { inbound: 0.55, outbound: 0.2, internal: 0.25 },
    status: { delivered: 0.86, failed: 0.03, quarantined: 0.03, filteredAsSpam: 0.06, expanded: 0.02, recalled: 0 },
    transient: { fraction: 0.05, minDelayMs: 30_000, maxDelayMs: 30 * 60_000 },
    size: { minBytes: 1_200, medianBytes: 40_000, maxBytes: 35_000_000 },
    ipv6Fraction: 0.15,
    visibilityDelay: { minMs: 0, maxMs: 30 * 60_000, distribution: 'exponential', meanMs: 2 * 60_000 },
    dailyCurve: false,
    distributionLists: { perDay: 0, recipientsMin: 1000, recipientsMax: 5000, at: [] },
    rereadChanges: { lateRowFraction: 0, statusChangeFraction: 0, latestMs: DAY_MS },
    injectedRows: [],
  };
}

const BUSINESS_CURVE = [2, 1.5, 1.2, 1, 1, 1.2, 2, 4, 7, 9, 10, 10, 9, 9.5, 10, 9.5, 8, 6, 4.5, 3.5, 3, 2.5, 2.2, 2];

/** One row of the trace: one recipient of one message. */
export interface TraceRow {
  id: string;
  messageId: string;
  senderAddress: string;
  recipientAddress: string;
  received: Instant;
  subject: string;
  size: number;
  fromIP: string;
  /** '' for inbound and internal mail (Graph); RWS shows null for those. */
  toIP: string;
  direction: Direction;
  finalStatus: FinalStatus;
  transientStatus?: TransientStatus;
  /** When the final status replaces the transient one (= received time when there is none). */
  finalAtMs: number;
  /** When queries start to see the row. */
  visibleAtMs: number;
  /** Deterministic per-row flag: RWS JSON light writes this row's Received without a Z (A.4/A.5). */
  rwsNoZone: boolean;
  /** rereadChanges: hidden until a page covering it was served / transient status until served once. */
  afterRead?: 'late' | 'status';
}

/** Graph v1.0 shape of a row (camelCase status). */
export interface GraphMessageTraceRow {
  id: string;
  senderAddress: string;
  recipientAddress: string;
  messageId: string;
  receivedDateTime: string;
  subject: string;
  size: number;
  fromIP: string;
  toIP: string;
  status: string;
}

/** The row's status by the clock alone (rows with `afterRead` need TenantTraffic.statusOf). */
export function statusAt(row: TraceRow, asOf: number): TraceStatus {
  return row.transientStatus && asOf < row.finalAtMs ? row.transientStatus : row.finalStatus;
}

/** Visibility by the clock alone (rows with `afterRead` need TenantTraffic.isVisible). */
export function isVisible(row: TraceRow, asOf: number): boolean {
  return row.visibleAtMs <= asOf;
}

export function rowIdentity(row: Pick<TraceRow, 'id' | 'recipientAddress'>): string {
  return `${row.id}|${row.recipientAddress}`;
}

/** API order: newest first; ties by recipient address, then id (the StartingRecipientAddress order, B.4). */
export function compareRows(a: TraceRow, b: TraceRow): number {
  const t = compareInstant(b.received, a.received);
  if (t !== 0) return t;
  if (a.recipientAddress !== b.recipientAddress) return a.recipientAddress < b.recipientAddress ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function formatReceived(t: Instant, precision: ReceivedPrecision): string {
  return formatInstant(t, precision === 'seconds' ? 0 : precision === 'millis' ? 3 : 7);
}

const FIRST = ['adele', 'alex', 'allan', 'bianca', 'brian', 'christie', 'debra', 'diego', 'emily', 'enrico', 'francois', 'grady', 'henrietta', 'irvin', 'isaiah', 'johanna', 'joni', 'lee', 'lidia', 'lynne', 'megan', 'miriam', 'nestor', 'patti', 'pradeep', 'raul', 'sakura', 'wei', 'zoe', 'olga'];
const LAST = ['vance', 'wilber', 'jones', 'cline', 'soto', 'gibson', 'zakharov', 'moreno', 'brown', 'campbell', 'dupont', 'archie', 'mueller', 'nguyen', 'tanaka', 'lindqvist', 'mcarthur', 'sommer', 'holloway', 'osei', 'patel', 'haddad', 'kowalski', 'fernandes', 'li', 'ito', 'garcia', 'okafor'];
const EXTERNAL_DOMAINS = ['example.net', 'gmail.com', 'outlook.com', 'partner-corp.co.uk', 'supplier.example.org', 'mail.vendor.io', 'news.bulkmailer.com', 'bank.example.com', 'univ.example.edu', 'firma.example.de'];
const SUBJECTS = [
  'Quarterly Report',
  'Weekly digest',
  'Re: Bob\'s "final" draft',
  "O'Brien's offer – please review",
  'Invoice #{n} – payment due',
  'Rechnung für März',
  'Réunion de l\'équipe: ordre du jour',
  '会议邀请: 周一 10:00',
  'FW: 🎉 Team lunch on Friday',
  'Your password expires in {n} days',
  'PIM: Role activated',
  "Can't make it today",
  'Meeting "Budget 2026" updated',
  'Ação necessária: confirme sua conta',
  'Daily build #{n} passed',
  '',
];

function ipv4(rng: Prng): string {
  return `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}
function ipv6(rng: Prng): string {
  return `2a01:111:f400:${rng.hex(4)}::${rng.hex(3)}`;
}

interface TenantPools {
  users: string[];
}

/** The lazy traffic of one tenant. */
export class TenantTraffic {
  private readonly cache = new Map<number, readonly TraceRow[]>();
  private cachedRows = 0;
  private readonly pools: TenantPools;
  private readonly curve: number[] | undefined;
  /** Injected rows by bucket (options.injectedRows and inject()). */
  private readonly injected = new Map<number, TraceRow[]>();
  private injectedCount = 0;
  /**
   * rereadChanges state: rows revealed by a page that covered them, rows served once. Changes
   * apply to the requests after the one that caused them (even on a clock that stands still);
   * it is current state, so ground truth asked `asOf` a past instant sees it too.
   */
  private readonly revealed = new Set<string>();
  private readonly servedOnce = new Set<string>();
  /** Late rows (afterRead 'late') that some response has served (ground truth's lateRows: 'served'). */
  private readonly lateServed = new Set<string>();

  constructor(
    readonly seed: number,
    readonly tenantIndex: number,
    readonly options: TrafficOptions,
    readonly precision: ReceivedPrecision,
    /** Upper bound on cached rows before the least recently used buckets are dropped. */
    readonly cacheRowBudget = 1_500_000,
  ) {
    const rng = new Prng(hash32(seed, tenantIndex, 0x5eed));
    const users = new Set<string>();
    const primary = options.acceptedDomains[0]!;
    for (let i = 0; users.size < options.internalUsers && i < options.internalUsers * 20; i++) {
      const domain = options.acceptedDomains.length > 1 && rng.next() < 0.1 ? rng.pick(options.acceptedDomains) : primary;
      const suffix = i < FIRST.length * LAST.length ? '' : String(i);
      users.add(`${rng.pick(FIRST)}.${rng.pick(LAST)}${suffix}@${domain}`);
    }
    for (let i = 0; users.size < options.internalUsers; i++) users.add(`user${i}@${primary}`);
    this.pools = { users: [...users] };
    if (options.dailyCurve === true) this.curve = BUSINESS_CURVE;
    else if (Array.isArray(options.dailyCurve)) this.curve = options.dailyCurve;
    if (this.curve) {
      const mean = this.curve.reduce((s, x) => s + x, 0) / this.curve.length;
      this.curve = this.curve.map((x) => x / mean);
    }
    this.inject(options.injectedRows);
  }

  /**
   * Places rows exactly as given (tests). They join their bucket's rows in API order and the
   * ground truth. Throws RangeError naming the field when a row is malformed.
   */
  inject(rows: readonly InjectedRow[]): void {
    const byMessage = new Map<string, string>();
    rows.forEach((spec, i) => {
      const received = parseInstant(String(spec.receivedDateTime));
      if (!received) throw new RangeError(`injectedRows[${i}].receivedDateTime must be an ISO 8601 date-time such as 2026-03-01T10:00:00.0000000Z, got '${spec.receivedDateTime}'`);
      if (this.precision === 'seconds' && (received.ms % 1000 !== 0 || received.sub !== 0)) {
        throw new RangeError(`injectedRows[${i}].receivedDateTime has fractional seconds but graph.receivedPrecision is 'seconds'`);
      }
      if (this.precision === 'millis' && received.sub !== 0) {
        throw new RangeError(`injectedRows[${i}].receivedDateTime has sub-millisecond digits but graph.receivedPrecision is 'millis'`);
      }
      const b = TenantTraffic.bucketOf(received.ms);
      const n = this.injectedCount++;
      const rng = new Prng(hash32(this.seed, this.tenantIndex, 0x1ec7, n));
      const messageKey = spec.message === undefined ? `row${n}` : `${b}:${spec.message}`;
      let id = byMessage.get(messageKey);
      if (!id) byMessage.set(messageKey, (id = encodeTraceId(rng, this.tenantIndex, 0x200000 + n, b)));
      const primary = this.options.acceptedDomains[0]!;
      const sender = spec.senderAddress?.toLowerCase() ?? `injected.sender@${primary}`;
      const row: TraceRow = {
        id,
        messageId: `<injected-${n}.${rng.hex(8)}@${primary}>`,
        senderAddress: sender,
        recipientAddress: spec.recipientAddress?.toLowerCase() ?? `injected${n}@${primary}`,
        received,
        subject: spec.subject ?? `Injected row ${n}`,
        size: 10_000 + rng.int(0, 9999),
        fromIP: ipv4(rng),
        toIP: '',
        direction: 'internal',
        finalStatus: spec.status ?? 'delivered',
        finalAtMs: received.ms,
        visibleAtMs: received.ms + (spec.visibleAfterMs ?? 0),
        rwsNoZone: false,
      };
      let list = this.injected.get(b);
      if (!list) this.injected.set(b, (list = []));
      list.push(row);
      this.dropCached(b);
    });
  }

  /**
   * Changes injected rows with this recipient address (tests: a status, size or subject that
   * differs on a later read). Returns how many rows changed.
   */
  amendInjected(recipientAddress: string, patch: { status?: FinalStatus; subject?: string; size?: number }): number {
    let n = 0;
    for (const [b, rows] of this.injected) {
      for (const row of rows) {
        if (row.recipientAddress !== recipientAddress.toLowerCase()) continue;
        if (patch.status !== undefined) row.finalStatus = patch.status;
        if (patch.subject !== undefined) row.subject = patch.subject;
        if (patch.size !== undefined) row.size = patch.size;
        n++;
        this.dropCached(b);
      }
    }
    return n;
  }

  private dropCached(b: number): void {
    const hit = this.cache.get(b);
    if (!hit) return;
    this.cache.delete(b);
    this.cachedRows -= hit.length;
  }

  /** Whether queries at `asOf` see the row (the clock, and for rereadChanges rows whether a page covering them was served). */
  isVisible(row: TraceRow, asOf: number): boolean {
    if (row.afterRead !== 'late') return row.visibleAtMs <= asOf;
    return asOf >= row.received.ms + this.options.rereadChanges.latestMs || this.revealed.has(rowIdentity(row));
  }

  /** Whether a response has served this late row (rows without afterRead 'late': always true). */
  lateRowServed(row: TraceRow): boolean {
    return row.afterRead !== 'late' || this.lateServed.has(rowIdentity(row));
  }

  /** The status queries at `asOf` see. */
  statusOf(row: TraceRow, asOf: number): TraceStatus {
    if (row.afterRead !== 'status') return statusAt(row, asOf);
    return asOf >= row.finalAtMs || this.servedOnce.has(rowIdentity(row)) ? row.finalStatus : row.transientStatus!;
  }

  /**
   * Records what a page served (rereadChanges), AFTER its rows were rendered: `served` rows show
   * their final status from the next request on; `hiddenCovered` rows (skipped because hidden,
   * inside the range the page covered) are visible from the next request on.
   */
  noteServed(served: readonly TraceRow[], hiddenCovered: readonly TraceRow[]): void {
    for (const r of served) {
      if (r.afterRead === 'status') this.servedOnce.add(rowIdentity(r));
      else if (r.afterRead === 'late') this.lateServed.add(rowIdentity(r));
    }
    for (const r of hiddenCovered) if (r.afterRead === 'late') this.revealed.add(rowIdentity(r));
  }

  get organization(): string {
    return this.options.acceptedDomains.find((d) => d.endsWith('.onmicrosoft.com')) ?? this.options.acceptedDomains[0]!;
  }

  static bucketOf(ms: number): number {
    return Math.floor(ms / BUCKET_MS);
  }

  /** The rows received in bucket `b`, in API order (newest first). Deterministic. */
  bucketRows(b: number): readonly TraceRow[] {
    const hit = this.cache.get(b);
    if (hit) {
      this.cache.delete(b);
      this.cache.set(b, hit);
      return hit;
    }
    const rows = this.generate(b);
    const extra = this.injected.get(b);
    if (extra) {
      rows.push(...extra);
      rows.sort(compareRows);
    }
    this.cache.set(b, rows);
    this.cachedRows += rows.length;
    while (this.cachedRows > this.cacheRowBudget && this.cache.size > 1) {
      const [oldest, oldRows] = this.cache.entries().next().value as [number, readonly TraceRow[]];
      this.cache.delete(oldest);
      this.cachedRows -= oldRows.length;
    }
    return rows;
  }

  /** Rows whose received time lies in [lower, upper] (inclusive instants), in API order. */
  *rowsBetween(lower: Instant, upper: Instant): Generator<TraceRow> {
    if (compareInstant(lower, upper) > 0) return;
    for (let b = TenantTraffic.bucketOf(upper.ms); b >= TenantTraffic.bucketOf(lower.ms); b--) {
      for (const row of this.bucketRows(b)) {
        if (compareInstant(row.received, upper) > 0) continue;
        if (compareInstant(row.received, lower) < 0) break;
        yield row;
      }
    }
  }

  /** Rows whose received millisecond is in [startMs, endMs), in API order. */
  *rowsInHalfOpen(startMs: number, endMs: number): Generator<TraceRow> {
    if (endMs <= startMs) return;
    yield* this.rowsBetween({ ms: startMs, sub: 0 }, { ms: endMs - 1, sub: 9999 });
  }

  /** The rows of the message with trace id `id`, or [] when no such message exists. */
  rowsOfMessage(id: string): TraceRow[] {
    const located = decodeTraceId(id);
    if (!located || located.tenantNibble !== (this.tenantIndex & 0xf)) return [];
    return this.bucketRows(located.bucket).filter((r) => r.id === id);
  }

  private rowCountFor(b: number, rng: Prng): number {
    let expected = (this.options.rowsPerDay * BUCKET_MS) / DAY_MS;
    if (this.curve) {
      const hour = new Date(b * BUCKET_MS).getUTCHours();
      expected *= this.curve[hour] ?? 1;
    }
    const whole = Math.floor(expected);
    return whole + (rng.next() < expected - whole ? 1 : 0);
  }

  private generate(b: number): TraceRow[] {
    const rng = new Prng(hash32(this.seed, this.tenantIndex, b));
    const target = this.rowCountFor(b, rng);
    const o = this.options;
    const rows: TraceRow[] = [];
    const startMs = b * BUCKET_MS;
    let msgIndex = 0;
    while (rows.length < target) {
      const wanted = this.recipientCount(rng);
      const n = Math.min(wanted, target - rows.length);
      const direction = rng.weighted(o.direction);
      let receivedMs = startMs + Math.floor(rng.next() * BUCKET_MS);
      let sub = 0;
      if (this.precision === 'seconds') receivedMs -= receivedMs % 1000;
      if (this.precision === 'ticks7') sub = rng.int(0, 9999);
      const received = { ms: receivedMs, sub };
      const id = encodeTraceId(rng, this.tenantIndex, msgIndex++, b);
      const sender = direction === 'inbound' ? this.externalAddress(rng) : rng.pick(this.pools.users);
      const recipients = this.pickRecipients(rng, direction, n, sender);
      const senderDomain = sender.split('@')[1]!;
      const messageId = direction === 'inbound'
        ? `<${rng.hex(8)}.${rng.hex(12)}@${senderDomain}>`
        : `<${rng.hex(32).toUpperCase()}@${this.organization.split('.')[0]!.toUpperCase()}PR0${rng.int(1, 9)}MB${rng.int(1000, 9999)}.namprd0${rng.int(1, 9)}.prod.outlook.com>`;
      const subject = this.subject(rng);
      const size = this.size(rng);
      const v6 = () => rng.next() < o.ipv6Fraction;
      const fromIP = v6() ? ipv6(rng) : ipv4(rng);
      for (const recipientAddress of recipients) {
        const finalStatus = rng.weighted(o.status);
        const transient = rng.next() < o.transient.fraction;
        const transientStatus: TransientStatus | undefined = transient ? (rng.next() < 0.5 ? 'pending' : 'gettingStatus') : undefined;
        const finalAtMs = transient ? receivedMs + rng.int(o.transient.minDelayMs, o.transient.maxDelayMs) : receivedMs;
        const toIP = direction === 'outbound' ? (v6() ? ipv6(rng) : ipv4(rng)) : '';
        rows.push({
          id,
          messageId,
          senderAddress: sender,
          recipientAddress,
          received,
          subject,
          size,
          fromIP,
          toIP,
          direction,
          finalStatus,
          ...(transientStatus ? { transientStatus } : {}),
          finalAtMs,
          visibleAtMs: receivedMs + this.visibilityDelay(rng),
          rwsNoZone: rng.next() < 0.2,
        });
      }
    }
    this.addDistributionLists(b, rows);
    this.markRereadChanges(rows);
    rows.sort(compareRows);
    return rows;
  }

  /**
   * Distribution-list mails of bucket `b`: scheduled ones (perDay, from their own PRNG stream, so
   * the rest of the traffic is the same with or without them) and the ones placed with `at`.
   * Every row of one mail carries the same instant, sender, message id and subject.
   */
  private addDistributionLists(b: number, rows: TraceRow[]): void {
    const o = this.options.distributionLists;
    const placed: { received: Instant; recipients: number }[] = [];
    if (o.perDay > 0) {
      const rng = new Prng(hash32(this.seed, this.tenantIndex, b, 0xd157));
      const expected = (o.perDay * BUCKET_MS) / DAY_MS;
      let count = Math.floor(expected) + (rng.next() < expected - Math.floor(expected) ? 1 : 0);
      while (count-- > 0) {
        let ms = b * BUCKET_MS + Math.floor(rng.next() * BUCKET_MS);
        let sub = 0;
        if (this.precision === 'seconds') ms -= ms % 1000;
        if (this.precision === 'ticks7') sub = rng.int(0, 9999);
        placed.push({ received: { ms, sub }, recipients: rng.int(o.recipientsMin, Math.max(o.recipientsMin, o.recipientsMax)) });
      }
    }
    for (const a of o.at) {
      const received = parseInstant(a.at);
      if (received && TenantTraffic.bucketOf(received.ms) === b) placed.push({ received, recipients: a.recipients });
    }
    placed.forEach((p, k) => {
      const rng = new Prng(hash32(this.seed, this.tenantIndex, b, 0xd1500 + k));
      const primary = this.options.acceptedDomains[0]!;
      const id = encodeTraceId(rng, this.tenantIndex, 0x100000 + k, b);
      const sender = rng.pick(this.pools.users);
      const list = rng.pick(['all-staff', 'everyone', 'all-hands', 'company-news', 'it-announcements']);
      const messageId = `<${rng.hex(32).toUpperCase()}@${primary.split('.')[0]!.toUpperCase()}PR0${rng.int(1, 9)}MB${rng.int(1000, 9999)}.namprd0${rng.int(1, 9)}.prod.outlook.com>`;
      const subject = rng.pick(['All-hands: quarterly update', 'Company news', 'Office closed on Friday', 'Security awareness training', 'Benefits enrolment opens today']);
      const size = this.size(rng);
      const fromIP = ipv4(rng);
      const visibleAtMs = p.received.ms + this.visibilityDelay(rng);
      const members = this.listMembers(p.recipients, sender, list);
      for (const recipientAddress of members) {
        const finalStatus: FinalStatus = rng.next() < 0.995 ? 'delivered' : 'failed';
        rows.push({
          id, messageId, senderAddress: sender, recipientAddress, received: p.received, subject, size, fromIP, toIP: '',
          direction: 'internal', finalStatus, finalAtMs: p.received.ms, visibleAtMs, rwsNoZone: false,
        });
      }
    });
  }

  /** `n` distinct member addresses: the tenant's mailboxes first, then numbered list members. */
  private listMembers(n: number, sender: string, list: string): string[] {
    const out: string[] = [];
    for (const u of this.pools.users) {
      if (out.length >= n) break;
      if (u !== sender) out.push(u);
    }
    const primary = this.options.acceptedDomains[0]!;
    for (let k = 1; out.length < n; k++) out.push(`${list}.member${k}@${primary}`);
    return out;
  }

  /** rereadChanges: deterministic per row (a hash of its identity), so other rows never change. */
  private markRereadChanges(rows: TraceRow[]): void {
    const c = this.options.rereadChanges;
    if (c.lateRowFraction <= 0 && c.statusChangeFraction <= 0) return;
    for (const row of rows) {
      const h = hash32(this.seed, this.tenantIndex, 0xa17e, hashString(rowIdentity(row))) / 2 ** 32;
      if (h < c.lateRowFraction) {
        row.afterRead = 'late';
      } else if (h < c.lateRowFraction + c.statusChangeFraction) {
        row.afterRead = 'status';
        row.transientStatus ??= hashString(row.recipientAddress) % 2 === 0 ? 'pending' : 'gettingStatus';
        row.finalAtMs = Math.max(row.finalAtMs, row.received.ms + c.latestMs);
      }
    }
  }

  private recipientCount(rng: Prng): number {
    const r = this.options.recipientsPerMessage;
    const kind = rng.weighted({ single: r.single, few: r.few, many: r.many });
    if (kind === 'single') return 1;
    if (kind === 'few') return rng.int(2, Math.max(2, r.fewMax));
    return rng.int(r.manyMin, Math.max(r.manyMin, r.manyMax));
  }

  private externalAddress(rng: Prng): string {
    const domain = rng.pick(EXTERNAL_DOMAINS);
    if (rng.next() < 0.15) return `${rng.pick(['no-reply', 'notifications', 'billing', 'newsletter', 'postmaster'])}@${domain}`;
    return `${rng.pick(FIRST)}.${rng.pick(LAST)}${rng.next() < 0.5 ? rng.int(1, 99) : ''}@${domain}`;
  }

  private pickRecipients(rng: Prng, direction: Direction, n: number, sender: string): string[] {
    const chosen = new Set<string>();
    const users = this.pools.users;
    let attempts = 0;
    while (chosen.size < n && attempts < n * 20) {
      attempts++;
      const candidate = direction === 'outbound' ? this.externalAddress(rng) : rng.pick(users);
      if (candidate !== sender) chosen.add(candidate);
    }
    for (let k = 0; chosen.size < n; k++) chosen.add(`member${k}@${this.options.acceptedDomains[0]!}`);
    return [...chosen];
  }

  private subject(rng: Prng): string {
    return rng.pick(SUBJECTS).replace('{n}', String(rng.int(2, 99_999)));
  }

  private size(rng: Prng): number {
    const s = this.options.size;
    // Box-Muller normal, sigma 1.2 in log space.
    const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    return Math.round(Math.min(s.maxBytes, Math.max(s.minBytes, s.medianBytes * Math.exp(1.2 * z))));
  }

  private visibilityDelay(rng: Prng): number {
    const v = this.options.visibilityDelay;
    const span = Math.max(0, v.maxMs - v.minMs);
    if (span === 0) return v.minMs;
    if ((v.distribution ?? 'exponential') === 'uniform') return v.minMs + Math.floor(rng.next() * span);
    const mean = v.meanMs ?? span / 4;
    return v.minMs + Math.min(span, Math.floor(rng.exponential(mean)));
  }
}

/**
 * Trace ids carry where their message lives, so `getDetailsByRecipient` can find it lazily:
 * `rrrrrrrr-rrrr-IIII-TIII-BBBBBBBBBBBB` with r random, I the message index in its bucket,
 * T the tenant index (mod 16) and B the bucket number.
 */
function encodeTraceId(rng: Prng, tenantIndex: number, msgIndex: number, bucket: number): string {
  const low = (msgIndex & 0xffff).toString(16).padStart(4, '0');
  const high = ((tenantIndex & 0xf).toString(16) + ((msgIndex >>> 16) & 0xfff).toString(16).padStart(3, '0'));
  return `${rng.hex(8)}-${rng.hex(4)}-${low}-${high}-${bucket.toString(16).padStart(12, '0')}`;
}

function decodeTraceId(id: string): { tenantNibble: number; bucket: number } | undefined {
  const m = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-([0-9a-f]{12})$/i.exec(id);
  if (!m) return undefined;
  return { tenantNibble: parseInt(m[1]!, 16), bucket: parseInt(m[2]!, 16) };
}

export function toGraphRow(row: TraceRow, asOf: number, precision: ReceivedPrecision, status: TraceStatus = statusAt(row, asOf)): GraphMessageTraceRow {
  return {
    id: row.id,
    senderAddress: row.senderAddress,
    recipientAddress: row.recipientAddress,
    messageId: row.messageId,
    receivedDateTime: formatReceived(row.received, precision),
    subject: row.subject,
    size: row.size,
    fromIP: row.fromIP,
    toIP: row.toIP,
    status,
  };
}
