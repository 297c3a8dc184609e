/**
 * The simulator's options: schema, defaults and validation. Every error names the option and
 * says what is allowed, so a typo in a test or on the command line is obvious.
 */
import { z } from 'zod';
import { SystemClock, type Clock } from '../shared/time/clock';
import { FAULT_KINDS, type FaultRule } from './faults';
import { hash32, Prng } from './prng';
import { parseInstant } from './instant';
import { DEFAULT_DETAIL_EVENT_NAMES, type DetailEventNames } from './detail';
import { defaultTrafficOptions, type ReceivedPrecision, type TrafficOptions } from './traffic';

export interface SimulatorTenantOptions {
  /** Default: a deterministic GUID from the seed and the tenant's index. */
  tenantId?: string;
  /** Default 50_000. */
  rowsPerDay?: number;
  /** Default true; false => Graph 401 "Service principal-less Authentication failed ..." (B.2). */
  servicePrincipalProvisioned?: boolean;
  /** Default true; false => the token has no ExchangeMessageTrace.Read.All => Graph 403. */
  graphPermissionGranted?: boolean;
  /** Default true; false => RWS 403 "No permission to access the report for the organization ." (A.8). */
  rwsRoleAssigned?: boolean;
  traffic?: TrafficPatch;
}

/** TrafficOptions fields to change; object fields merge one level deep with the defaults, arrays replace them. */
export type TrafficPatch = {
  [K in keyof TrafficOptions]?: TrafficOptions[K] extends readonly unknown[] ? TrafficOptions[K]
    : TrafficOptions[K] extends object ? Partial<TrafficOptions[K]> : TrafficOptions[K];
};

export interface GraphBehaviourOptions {
  maxTop?: number;
  defaultTop?: number;
  maxWindowDays?: number;
  maxLookbackDays?: number;
  statusCase?: 'auto' | 'camel' | 'pascal';
  receivedPrecision?: ReceivedPrecision;
  boundaryRepeats?: 'sameTimestamp' | 'lastRow' | 'none';
  /**
   * Extra characters carried in every `$skiptoken` (default 0). The token is opaque and its
   * length is not documented (B.4, UNCONFIRMED); collectors must store any length.
   */
  skipTokenPadding?: number;
  /**
   * getDetailsByRecipient (B.6): how long after receivedDateTime a row still has details. Default
   * 90 (the V2 detail cmdlet searches 90 days). UNCONFIRMED for Graph: without dates the V2 cmdlet
   * searches only the last 48 hours, so 2 is also plausible.
   */
  detailRetentionDays?: number;
  /** A row older than detailRetentionDays: 'empty' (default) answers {"value":[]}, 'badRequest' a 400. UNCONFIRMED. */
  detailBeyondRetention?: 'empty' | 'badRequest';
  /** Events per detail page; longer answers carry @odata.nextLink. Default 0: no paging (B.6: paging is not documented). */
  detailPageSize?: number;
  /** Anti-spam verdict data: 'fields' (default: one MEP per field, SCL/SFV/CAT/BCL/DI...) or 'customData' (one `S:SFA=…` blob). UNCONFIRMED. */
  detailSpamData?: 'fields' | 'customData';
  /** A quarantined row ends with 'deliverToQuarantine' (default: Deliver to the quarantine folder) or 'quarantineEvent'. UNCONFIRMED. */
  detailQuarantine?: 'deliverToQuarantine' | 'quarantineEvent';
  /** Event names no Microsoft source confirms for this API (see simulator/detail.ts DetailEventNames). */
  detailEventNames?: Partial<DetailEventNames>;
}

/** Graph options with every default filled in. */
export type ResolvedGraphOptions = Required<Omit<GraphBehaviourOptions, 'detailEventNames'>> & { detailEventNames: DetailEventNames };

export interface RwsBehaviourOptions {
  maxTop?: number;
  maxLookbackDays?: number;
  format?: 'auto' | 'light' | 'verbose';
  nextLink?: 'absolute' | 'relative' | 'none';
  indexMode?: 'global' | 'perPage';
}

export interface SimulatorOptions {
  clock?: Clock;
  seed?: number;
  tenants?: SimulatorTenantOptions[] | number;
  https?: boolean;
  host?: string;
  port?: number;
  tokenLifetimeSec?: number;
  latency?: { meanMs: number; jitterMs?: number };
  throttle?: { limit: number; windowMs: number; countRejected?: boolean };
  graph?: GraphBehaviourOptions;
  rws?: RwsBehaviourOptions;
  faults?: FaultRule[];
}

export interface ResolvedTenant {
  index: number;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  servicePrincipalProvisioned: boolean;
  graphPermissionGranted: boolean;
  rwsRoleAssigned: boolean;
  traffic: TrafficOptions;
}

export interface ResolvedSimulatorOptions {
  clock: Clock;
  seed: number;
  tenants: ResolvedTenant[];
  https: boolean;
  host: string;
  port: number;
  tokenLifetimeSec: number;
  latency: { meanMs: number; jitterMs: number };
  throttle: { limit: number; windowMs: number; countRejected: boolean };
  graph: ResolvedGraphOptions;
  rws: Required<RwsBehaviourOptions>;
  faults: FaultRule[];
}

/** A distribution-list mail placed without an instant lands this long before the start (visible by then with the default visibility delay of at most 30 minutes). */
export const DISTRIBUTION_LIST_LEAD_MS = 45 * 60_000;

/** The environment variable `npm start` reads to place one distribution-list mail (recipients). */
export const DISTRIBUTION_LIST_ENV = 'MTC_SIM_DISTRIBUTION_LIST';

/**
 * The traffic patch for `MTC_SIM_DISTRIBUTION_LIST=<recipients>[@<ISO instant>]` (local runs): one
 * mail to that many recipients, all rows stamped with one instant (default 45 minutes before `now`).
 * Undefined when the variable is unset or empty. A bad value throws SimulatorOptionsError naming it.
 */
export function distributionListFromEnv(env: NodeJS.ProcessEnv, now: number): Pick<TrafficOptions, 'distributionLists'> | undefined {
  const raw = env[DISTRIBUTION_LIST_ENV]?.trim();
  if (!raw) return undefined;
  const m = /^(\d+)(?:@(.+))?$/.exec(raw);
  const recipients = m ? Number(m[1]) : NaN;
  if (!m || !(recipients >= 1 && recipients <= 100_000) || (m[2] !== undefined && !parseInstant(m[2]))) {
    throw new SimulatorOptionsError(DISTRIBUTION_LIST_ENV, `${DISTRIBUTION_LIST_ENV} must be <recipients>[@<ISO instant>] with 1 to 100000 recipients, e.g. 3000 or 3000@2026-03-01T10:00:00.0000000Z; got '${raw}'`);
  }
  const defaults = defaultTrafficOptions(0).distributionLists;
  return { distributionLists: { ...defaults, at: [{ at: m[2] ?? new Date(now - DISTRIBUTION_LIST_LEAD_MS).toISOString(), recipients }] } };
}

/** A simulator option is missing, has the wrong type or is out of range. The message names it. */
export class SimulatorOptionsError extends Error {
  override readonly name = 'SimulatorOptionsError';
  constructor(readonly option: string, message: string) {
    super(message);
  }
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const nonNeg = z.number().finite().min(0);
const weight = nonNeg;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ADDRESS = /^[^@\s]+@[^@\s]+$/;
const instantText = z.string().refine((t) => parseInstant(t) !== undefined, 'must be an ISO 8601 date-time such as 2026-03-01T10:00:00.0000000Z');
const eventName = z.string().min(1, 'must be a non-empty event name such as Spam').max(64);
const DOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i;

const trafficSchema = z.strictObject({
  rowsPerDay: int(0, 50_000_000),
  acceptedDomains: z.array(z.string().regex(DOMAIN, 'must be DNS domain names such as contoso.com')).min(1),
  internalUsers: int(1, 1_000_000),
  recipientsPerMessage: z.strictObject({ single: weight, few: weight, many: weight, fewMax: int(2, 1000), manyMin: int(2, 100_000), manyMax: int(2, 100_000) }),
  direction: z.strictObject({ inbound: weight, outbound: weight, internal: weight }),
  status: z.strictObject({ delivered: weight, failed: weight, quarantined: weight, filteredAsSpam: weight, expanded: weight, recalled: weight }),
  transient: z.strictObject({ fraction: z.number().min(0).max(1), minDelayMs: nonNeg, maxDelayMs: nonNeg }),
  size: z.strictObject({ minBytes: int(1, 2 ** 31 - 1), medianBytes: int(1, 2 ** 31 - 1), maxBytes: int(1, 2 ** 31 - 1) }),
  ipv6Fraction: z.number().min(0).max(1),
  visibilityDelay: z.strictObject({
    minMs: nonNeg,
    maxMs: z.number().finite().min(0).max(7 * 86_400_000),
    distribution: z.enum(['uniform', 'exponential']).optional(),
    meanMs: z.number().finite().positive().optional(),
  }),
  dailyCurve: z.union([z.boolean(), z.array(nonNeg).length(24)]),
  distributionLists: z.strictObject({
    perDay: z.number().finite().min(0).max(100_000),
    recipientsMin: int(1, 100_000),
    recipientsMax: int(1, 100_000),
    at: z.array(z.strictObject({ at: instantText, recipients: int(1, 100_000) })),
  }),
  rereadChanges: z.strictObject({
    lateRowFraction: z.number().min(0).max(1),
    statusChangeFraction: z.number().min(0).max(1),
    latestMs: z.number().finite().positive().max(7 * 86_400_000),
  }),
  injectedRows: z.array(z.strictObject({
    receivedDateTime: instantText,
    recipientAddress: z.string().regex(ADDRESS, 'must be an address such as someone@contoso.com').optional(),
    senderAddress: z.string().regex(ADDRESS, 'must be an address such as someone@contoso.com').optional(),
    subject: z.string().optional(),
    status: z.enum(['delivered', 'failed', 'quarantined', 'filteredAsSpam', 'expanded', 'recalled']).optional(),
    message: int(0, 1_000_000).optional(),
    visibleAfterMs: nonNeg.optional(),
  })),
});

const tenantSchema = z.strictObject({
  tenantId: z.string().regex(GUID, 'must be a GUID such as 2f6a1c3e-0000-4000-8000-000000000001').optional(),
  rowsPerDay: int(0, 50_000_000).optional(),
  servicePrincipalProvisioned: z.boolean().optional(),
  graphPermissionGranted: z.boolean().optional(),
  rwsRoleAssigned: z.boolean().optional(),
  traffic: z.unknown().optional(),
});

const faultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  probability: z.number().min(0).max(1).optional(),
  count: int(0, Number.MAX_SAFE_INTEGER).optional(),
  match: z.strictObject({
    tenantId: z.string().optional(),
    api: z.enum(['graph', 'rws', 'detail', 'token']).optional(),
    pathIncludes: z.string().optional(),
    nthRequest: int(1, Number.MAX_SAFE_INTEGER).optional(),
  }).optional(),
  retryAfterSec: int(0, 86_400).optional(),
});

const optionsSchema = z.strictObject({
  clock: z.unknown().optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  tenants: z.union([int(1, 1000), z.array(tenantSchema).min(1).max(1000)]).optional(),
  https: z.boolean().optional(),
  host: z.string().min(1).optional(),
  port: int(0, 65535).optional(),
  tokenLifetimeSec: int(1, 86_400).optional(),
  latency: z.strictObject({ meanMs: nonNeg, jitterMs: nonNeg.optional() }).optional(),
  throttle: z.strictObject({ limit: int(1, 1_000_000), windowMs: z.number().int().positive(), countRejected: z.boolean().optional() }).optional(),
  graph: z.strictObject({
    maxTop: int(1, 1_000_000).optional(),
    defaultTop: int(1, 1_000_000).optional(),
    maxWindowDays: z.number().positive().optional(),
    maxLookbackDays: z.number().positive().optional(),
    statusCase: z.enum(['auto', 'camel', 'pascal']).optional(),
    receivedPrecision: z.enum(['seconds', 'millis', 'ticks7']).optional(),
    boundaryRepeats: z.enum(['sameTimestamp', 'lastRow', 'none']).optional(),
    skipTokenPadding: int(0, 1_000_000).optional(),
    detailRetentionDays: z.number().positive().max(3650).optional(),
    detailBeyondRetention: z.enum(['empty', 'badRequest']).optional(),
    detailPageSize: int(0, 100_000).optional(),
    detailSpamData: z.enum(['fields', 'customData']).optional(),
    detailQuarantine: z.enum(['deliverToQuarantine', 'quarantineEvent']).optional(),
    detailEventNames: z.strictObject({
      spam: eventName.optional(), malware: eventName.optional(), transportRule: eventName.optional(),
      expand: eventName.optional(), sendExternal: eventName.optional(), quarantine: eventName.optional(),
    }).optional(),
  }).optional(),
  rws: z.strictObject({
    maxTop: int(1, 1_000_000).optional(),
    maxLookbackDays: z.number().positive().optional(),
    format: z.enum(['auto', 'light', 'verbose']).optional(),
    nextLink: z.enum(['absolute', 'relative', 'none']).optional(),
    indexMode: z.enum(['global', 'perPage']).optional(),
  }).optional(),
  faults: z.array(faultSchema).optional(),
});

function describeIssue(prefix: string, issue: z.core.$ZodIssue): SimulatorOptionsError {
  const path = [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].filter(Boolean).join('.').replace(/\.\[/g, '[');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return new SimulatorOptionsError(keys[0]!, `Unknown simulator option ${keys.join(', ')}; check the spelling against SimulatorOptions in simulator/options.ts`);
  }
  const name = path || '(options)';
  return new SimulatorOptionsError(name, `Invalid simulator option ${name}: ${issue.message}`);
}

function check<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw describeIssue(prefix, result.error.issues[0]!);
  return result.data;
}

function isClock(value: unknown): value is Clock {
  const c = value as Partial<Clock> | undefined;
  return !!c && typeof c.now === 'function' && typeof c.sleep === 'function' && typeof c.toRealMs === 'function';
}

function deterministicGuid(seed: number, index: number, salt: number): string {
  return new Prng(hash32(seed, index, salt)).guid();
}

/** Validates options and fills in every default. Throws SimulatorOptionsError naming the bad option. */
export function parseSimulatorOptions(input: SimulatorOptions | undefined = {}): ResolvedSimulatorOptions {
  if (input === null || typeof input !== 'object') throw new SimulatorOptionsError('(options)', 'Simulator options must be an object (or omitted)');
  const o = check(optionsSchema, input, '');
  if (o.clock !== undefined && !isClock(o.clock)) {
    throw new SimulatorOptionsError('clock', 'Invalid simulator option clock: pass a Clock from shared/time/clock.ts (SystemClock, AcceleratedClock or ManualClock)');
  }
  const seed = o.seed ?? 1;
  const tenantInputs: z.infer<typeof tenantSchema>[] = typeof o.tenants === 'number' ? Array.from({ length: o.tenants }, () => ({})) : (o.tenants ?? [{}]);
  const seen = new Set<string>();
  const tenants = tenantInputs.map((t, index): ResolvedTenant => {
    const defaults = defaultTrafficOptions(index);
    const patch = t.traffic === undefined ? {} : t.traffic;
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic`, `Invalid simulator option tenants[${index}].traffic: expected an object of TrafficOptions fields`);
    }
    const merged: Record<string, unknown> = { ...defaults };
    for (const [k, v] of Object.entries(patch)) {
      const d = (defaults as unknown as Record<string, unknown>)[k];
      merged[k] = d && typeof d === 'object' && !Array.isArray(d) && v && typeof v === 'object' && !Array.isArray(v) ? { ...d, ...v } : v;
    }
    if (t.rowsPerDay !== undefined) merged.rowsPerDay = t.rowsPerDay;
    const traffic = check(trafficSchema, merged, `tenants[${index}].traffic`) as TrafficOptions;
    if (traffic.visibilityDelay.maxMs < traffic.visibilityDelay.minMs) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic.visibilityDelay`, `Invalid simulator option tenants[${index}].traffic.visibilityDelay: maxMs must be >= minMs`);
    }
    if (traffic.transient.maxDelayMs < traffic.transient.minDelayMs) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic.transient`, `Invalid simulator option tenants[${index}].traffic.transient: maxDelayMs must be >= minDelayMs`);
    }
    if (traffic.distributionLists.recipientsMax < traffic.distributionLists.recipientsMin) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic.distributionLists`, `Invalid simulator option tenants[${index}].traffic.distributionLists: recipientsMax must be >= recipientsMin`);
    }
    if (traffic.rereadChanges.lateRowFraction + traffic.rereadChanges.statusChangeFraction > 1) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic.rereadChanges`, `Invalid simulator option tenants[${index}].traffic.rereadChanges: lateRowFraction + statusChangeFraction must be at most 1`);
    }
    if (Object.values(traffic.status).every((w) => w === 0)) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic.status`, `Invalid simulator option tenants[${index}].traffic.status: at least one status needs a weight above 0`);
    }
    if (Object.values(traffic.direction).every((w) => w === 0)) {
      throw new SimulatorOptionsError(`tenants[${index}].traffic.direction`, `Invalid simulator option tenants[${index}].traffic.direction: at least one direction needs a weight above 0`);
    }
    const tenantId = (t.tenantId ?? deterministicGuid(seed, index, 0x7e4a)).toLowerCase();
    if (seen.has(tenantId)) throw new SimulatorOptionsError(`tenants[${index}].tenantId`, `Invalid simulator option tenants[${index}].tenantId: ${tenantId} is used by another tenant`);
    seen.add(tenantId);
    const secretRng = new Prng(hash32(seed, index, 0x5ec7));
    return {
      index,
      tenantId,
      clientId: deterministicGuid(seed, index, 0xc11e),
      clientSecret: `sim~${secretRng.hex(8)}.${secretRng.hex(24)}`,
      servicePrincipalProvisioned: t.servicePrincipalProvisioned ?? true,
      graphPermissionGranted: t.graphPermissionGranted ?? true,
      rwsRoleAssigned: t.rwsRoleAssigned ?? true,
      traffic,
    };
  });
  const domainOwner = new Map<string, number>();
  for (const t of tenants) {
    for (const d of t.traffic.acceptedDomains) {
      const owner = domainOwner.get(d.toLowerCase());
      if (owner !== undefined && owner !== t.index) {
        throw new SimulatorOptionsError(`tenants[${t.index}].traffic.acceptedDomains`, `Invalid simulator option tenants[${t.index}].traffic.acceptedDomains: ${d} already belongs to tenants[${owner}]; give each tenant its own domains`);
      }
      domainOwner.set(d.toLowerCase(), t.index);
    }
  }
  const graph: ResolvedGraphOptions = {
    maxTop: o.graph?.maxTop ?? 5000,
    defaultTop: o.graph?.defaultTop ?? 1000,
    maxWindowDays: o.graph?.maxWindowDays ?? 10,
    maxLookbackDays: o.graph?.maxLookbackDays ?? 90,
    statusCase: o.graph?.statusCase ?? 'auto',
    receivedPrecision: o.graph?.receivedPrecision ?? 'ticks7',
    boundaryRepeats: o.graph?.boundaryRepeats ?? 'sameTimestamp',
    skipTokenPadding: o.graph?.skipTokenPadding ?? 0,
    detailRetentionDays: o.graph?.detailRetentionDays ?? 90,
    detailBeyondRetention: o.graph?.detailBeyondRetention ?? 'empty',
    detailPageSize: o.graph?.detailPageSize ?? 0,
    detailSpamData: o.graph?.detailSpamData ?? 'fields',
    detailQuarantine: o.graph?.detailQuarantine ?? 'deliverToQuarantine',
    detailEventNames: { ...DEFAULT_DETAIL_EVENT_NAMES, ...o.graph?.detailEventNames },
  };
  if (graph.defaultTop > graph.maxTop) throw new SimulatorOptionsError('graph.defaultTop', `Invalid simulator option graph.defaultTop: ${graph.defaultTop} is above graph.maxTop (${graph.maxTop})`);
  return {
    clock: (o.clock as Clock | undefined) ?? new SystemClock(),
    seed,
    tenants,
    https: o.https ?? false,
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    tokenLifetimeSec: o.tokenLifetimeSec ?? 3599,
    latency: { meanMs: o.latency?.meanMs ?? 0, jitterMs: o.latency?.jitterMs ?? 0 },
    throttle: { limit: o.throttle?.limit ?? 100, windowMs: o.throttle?.windowMs ?? 300_000, countRejected: o.throttle?.countRejected ?? false },
    graph,
    rws: {
      maxTop: o.rws?.maxTop ?? 2000,
      maxLookbackDays: o.rws?.maxLookbackDays ?? 10,
      format: o.rws?.format ?? 'auto',
      nextLink: o.rws?.nextLink ?? 'absolute',
      indexMode: o.rws?.indexMode ?? 'global',
    },
    faults: (o.faults ?? []) as FaultRule[],
  };
}
