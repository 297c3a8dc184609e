/**
 * Telemetry, declared once (STYLE: OpenTelemetry metadata.yaml, Vector's component spec): every
 * source and destination emits the same metric names with the same tags, so one dashboard query
 * works for all of them. The telemetry reference in docs/operations.md is generated from METRICS
 * and EVENTS (`renderTelemetryReference()`); test/telemetry/reference-docs.test.ts fails when the
 * two differ, and test/telemetry/local-run.test.ts checks that a real local run emits every metric
 * with exactly its declared tags.
 *
 * Metrics go through the OpenTelemetry API (Application Insights 3.x exports them as
 * `customMetrics` when it is started, see shared/telemetry-setup.ts); health changes are custom
 * events. The queue hop carries a W3C `traceparent` (shared/queue/jobs.ts), so the work on one
 * page and its continuations is one trace (`withJobSpan`).
 */
import {
  ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, isSpanContextValid, metrics, trace,
  type Attributes as OtelAttributes, type Context, type Counter, type Histogram, type Link, type Meter, type Span, type SpanContext,
} from '@opentelemetry/api';
import type { ErrorType } from './errors';
import type { Ledger } from './state/ledger';
import type { Clock } from './time/clock';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/**
 * The tag vocabulary and each tag's values. Error tags use Vector's names (its component spec):
 * `component_id` and `component_kind` say which component failed, `error_type` what kind of error,
 * `stage` where: `receiving` (the API), `processing` (the collector's own work on a claimed page),
 * `sending` (a destination). The compiler checks every call against METRICS: a metric gets exactly
 * its declared tags, each with a value of its type.
 */
export interface TagValues {
  source: string;
  destination: string;
  /** The HTTP status as text (`"200"`, `"429"`), or `"error"` when no response arrived. */
  status: string;
  component_id: string;
  component_kind: 'source' | 'destination';
  error_type: ErrorType;
  stage: 'receiving' | 'processing' | 'sending';
  code: string;
  /** Why rows were dropped (`mtc.events.discarded`), or why a detail request was not made (`mtc.details.skipped`). */
  reason: 'outside_slice' | 'page_boundary_repeat' | 'unchanged_on_reread' | 'destination_parked' | 'cap' | 'retention';
  intentional: 'true';
  queue: string;
}

export type TagName = keyof TagValues;

export interface MetricDeclaration {
  readonly name: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly tags: readonly TagName[];
  readonly description: string;
}

export const METRICS = {
  apiRequests: {
    name: 'mtc.api.requests', kind: 'counter', unit: '{request}', tags: ['source', 'status'],
    description: 'API requests sent to Graph or RWS (each spends the tenant budget). `status` is the HTTP status as text (`"200"`, `"429"`), or `"error"` when no response arrived.',
  },
  eventsReceived: {
    name: 'mtc.events.received', kind: 'counter', unit: '{event}', tags: ['source'],
    description: 'Rows received from the API and kept (after the half-open slice and repeat filters).',
  },
  bytesReceived: {
    name: 'mtc.bytes.received', kind: 'counter', unit: 'By', tags: ['source'],
    description: 'Bytes of API response bodies (decoded) of the pages that were received successfully.',
  },
  rowsForwarded: {
    name: 'mtc.rows.forwarded', kind: 'counter', unit: '{event}', tags: ['source', 'destination'],
    description: 'Rows (events) a destination acknowledged: the events sent.',
  },
  bytesSent: {
    name: 'mtc.bytes.sent', kind: 'counter', unit: 'By', tags: ['source', 'destination'],
    description: 'Bytes of the serialised events a destination acknowledged, before compression.',
  },
  errors: {
    name: 'mtc.errors', kind: 'counter', unit: '{error}', tags: ['source', 'component_id', 'component_kind', 'error_type', 'stage', 'code'],
    description: 'Errors, tagged with Vector\'s names. `component_id`: the component that failed: the destination\'s id for `sending` errors (`component_kind` `destination`; this is the destination tag), else the source\'s id (`component_kind` `source`); `source` is the source whose page it was either way. `error_type`: `ThirdPartyConfig`, `ThirdPartyGeneric` or `FirstPartyGeneric`; `stage`: `receiving` (the API), `processing` (the collector\'s own work on a claimed page, such as storage) or `sending` (a destination); `code`: the error code (for example `Http503`, `Unauthorized`).',
  },
  discarded: {
    name: 'mtc.events.discarded', kind: 'counter', unit: '{event}', tags: ['source', 'reason', 'intentional'],
    description: 'Rows dropped on purpose. `reason`: `outside_slice` (the API returned a row outside the half-open slice), `page_boundary_repeat` (a row already received on the previous page or earlier on the same page), `unchanged_on_reread` (a settle re-read found a row already forwarded and unchanged), or `destination_parked` (events not stored for a parked destination, counted per unit it missed; the time range of the unit is recorded and re-collected for it on replay); `intentional`: `"true"`.',
  },
  lagSeconds: {
    name: 'mtc.source.lag_seconds', kind: 'gauge', unit: 's', tags: ['source'],
    description: 'The age of the completed watermark: seconds between now and the source\'s `completedUntil` (everything before it was forwarded). Includes the configured `collectionDelay`.',
  },
  planningLagSeconds: {
    name: 'mtc.source.planning_lag_seconds', kind: 'gauge', unit: 's', tags: ['source'],
    description: 'Seconds between now and the end of the last planned live slice (the cursor\'s `scheduledUntil`). `lag_seconds` minus this is the work planned but not yet done (queued, in flight or parked).',
  },
  settleLagSeconds: {
    name: 'mtc.source.settle_lag_seconds', kind: 'gauge', unit: 's', tags: ['source'],
    description: 'Seconds between now and `settledUntil` (every settle re-read done). With the default re-reads (+1 h, +6 h, +24 h) and 1-hour buckets it stays near 25-26 h; more means re-reads are behind. Only for sources with re-reads on.',
  },
  slicesParked: {
    name: 'mtc.slices.parked', kind: 'gauge', unit: '{slice}', tags: ['source'],
    description: 'Slices of the source that are parked (retry horizon passed, permanent error, or poison). They hold the completed watermark back.',
  },
  poisonQueueMessages: {
    name: 'mtc.queue.poison_messages', kind: 'gauge', unit: '{message}', tags: ['queue'],
    description: 'Messages waiting in `page-jobs-poison` and `page-jobs-poison-poison` (`queue`), measured by the `poisonSweep` timer every 5 minutes. Both are normally 0: the `poison` function empties the first, the sweep the second. Alert on any value above 0 that lasts.',
  },
  budgetUse: {
    name: 'mtc.budget.utilisation', kind: 'gauge', unit: '1', tags: ['source'],
    description: 'Requests of the tenant budget used in the current rolling window over the requests the collector may use (0..1; above 1 only after charged retries).',
  },
  backlogPages: {
    name: 'mtc.destination.backlog_pages', kind: 'gauge', unit: '{page}', tags: ['source', 'destination'],
    description: 'Pages (and detail units) waiting in a destination\'s backlog for a source: it was down or slow, the other destinations went on. 0 when the destination keeps up. Measured by the planner every sweep (about every 15 minutes) and by each drain pass.',
  },
  backlogBytes: {
    name: 'mtc.destination.backlog_bytes', kind: 'gauge', unit: 'By', tags: ['source', 'destination'],
    description: 'Bytes (gzip) of what waits in a destination\'s backlog for a source. Past the destination\'s `backlog.maxBytes` it is parked.',
  },
  backlogAgeSeconds: {
    name: 'mtc.destination.backlog_age_seconds', kind: 'gauge', unit: 's', tags: ['source', 'destination'],
    description: 'Age of the oldest unit waiting in a destination\'s backlog for a source (0 when none waits). Alert on it: it is how far the destination is behind. Past `backlog.maxAge` the destination is parked.',
  },
  destinationsParked: {
    name: 'mtc.destinations.parked', kind: 'gauge', unit: '{destination}', tags: ['source', 'destination'],
    description: '1 while a destination is parked for a source (its backlog passed a limit, or it refused our credentials): nothing more is stored for it and the ranges it misses are recorded for a replay; else 0.',
  },
  pageLatency: {
    name: 'mtc.api.page_ms', kind: 'histogram', unit: 'ms', tags: ['source'],
    description: 'Latency of one successful API page request, in milliseconds.',
  },
  detailRequests: {
    name: 'mtc.details.requests', kind: 'counter', unit: '{request}', tags: ['source', 'status'],
    description: 'Detail requests (Graph `getDetailsByRecipient`, detail enrichment) sent; each spends the tenant budget like a page request (those are `mtc.api.requests`). `status` as for `mtc.api.requests`.',
  },
  detailEvents: {
    name: 'mtc.details.events', kind: 'counter', unit: '{event}', tags: ['source', 'destination'],
    description: 'Detail events a destination acknowledged (one per event of a row\'s getDetailsByRecipient answer). Trace rows are `mtc.rows.forwarded`.',
  },
  detailsSkipped: {
    name: 'mtc.details.skipped', kind: 'counter', unit: '{row}', tags: ['source', 'reason'],
    description: 'Qualifying rows whose details were not requested: `reason` `cap` (the source\'s `details.dailyRequestCap` was reached that UTC day) or `retention` (the row is older than `details.retention`, the API no longer has its details).',
  },
  detailBacklog: {
    name: 'mtc.details.backlog', kind: 'gauge', unit: '{row}', tags: ['source'],
    description: 'Qualifying rows waiting for their detail request (measured by the planner\'s detail sweep, every 5 minutes). It grows while live collection, backfill and settle leave the budget no room; see the runbook in docs/operations.md.',
  },
  detailsParked: {
    name: 'mtc.details.parked', kind: 'gauge', unit: '{row}', tags: ['source'],
    description: 'Detail records parked (retry horizon passed, permanent error, poison); they wait for a replay (`POST /api/sources/{id}/replay`), and those parked for recovery replay by themselves.',
  },
  detailDelay: {
    name: 'mtc.details.delay_seconds', kind: 'histogram', unit: 's', tags: ['source'],
    description: 'Seconds from a qualifying row\'s collection (its page recorded) to its detail events acknowledged by every destination.',
  },
  budgetWaitedForDetail: {
    name: 'mtc.budget.waited_for_detail', kind: 'gauge', unit: '{request}', tags: ['source'],
    description: 'Live, backfill and rescan requests of the source\'s tenant that were refused and would have been granted without the detail grants in the rolling window (a count kept in the budget entity since it was created). Detail requests must never make the others wait: the target is 0; alert on any increase.',
  },
} as const satisfies Record<string, MetricDeclaration>;

export const EVENTS = {
  /** A source changed health state. */
  health: 'mtc.health',
  /** A slice was parked. */
  sliceParked: 'mtc.slice.parked',
  /** A destination's start-up health check result. */
  destinationHealth: 'mtc.destination.health',
  /** A destination was parked for a source (its backlog passed a limit). */
  destinationParked: 'mtc.destination.parked',
} as const;

/** The properties of each custom event (documented; `message` and `fix` never contain a secret). */
export const EVENT_PROPERTIES: { readonly [K in keyof typeof EVENTS]: { readonly properties: readonly string[]; readonly description: string } } = {
  health: {
    properties: ['source', 'state', 'previousState', 'errorType', 'code', 'message', 'fix'],
    description: 'One event per health state change of a source. `state`: `Pending`, `Started`, `Initialized`, `Authenticated`, `Collecting`, `Error`, `Stopping`; `errorType` is empty unless the change was caused by an error.',
  },
  sliceParked: {
    properties: ['source', 'slice', 'reason', 'errorType', 'code', 'message'],
    description: 'A slice was parked. `reason`: `permanent`, `horizon`, `config`, `poison` or `schema` (`destination:<id>` from versions before destinations had backlogs).',
  },
  destinationHealth: {
    properties: ['destination', 'type', 'ok', 'durationMs', 'code', 'message', 'fix'],
    description: 'The result of a destination\'s health check at start-up (reported once, never retried).',
  },
  destinationParked: {
    properties: ['source', 'destination', 'reason', 'pages', 'bytes', 'code', 'message'],
    description: 'A destination was parked for a source: `reason` `limit:pages`, `limit:bytes`, `limit:age` (its backlog passed that limit) or `config` (it refused our credentials or the request, a 401, 403 or 404). Nothing more is stored for it; `POST /api/sources/{source}/destinations/{destination}/replay` resumes it and re-collects what it missed.',
  },
};

/** The spans the collector creates (with the OpenTelemetry API; exported by Application Insights as requests). */
export const SPANS = {
  plan: 'mtc.plan',
  backfill: 'mtc.backfill',
  page: 'mtc.page',
  /** A destination's drain job (shared/delivery/drain.ts): its backlog for one source. */
  delivery: 'mtc.delivery',
  /** A detail job (detail enrichment), the child of the page span that admitted its row. */
  detail: 'mtc.detail',
} as const;

export type MetricKey = keyof typeof METRICS;
export type Attributes = Record<string, string>;

/** The tags of a metric: exactly its declared ones, each typed from TagValues. */
export type MetricTags<K extends MetricKey> = { [T in (typeof METRICS)[K]['tags'][number]]: TagValues[T] };

export interface Telemetry {
  count<K extends MetricKey>(metric: K, value: number, tags: MetricTags<K>): void;
  gauge<K extends MetricKey>(metric: K, value: number, tags: MetricTags<K>): void;
  record<K extends MetricKey>(metric: K, value: number, tags: MetricTags<K>): void;
  event(name: string, properties: Record<string, string | number | boolean | undefined>): void;
}

/**
 * The tags of one `mtc.errors` count: the failing component is the destination for `sending`
 * errors, else the source.
 */
export function errorTags(o: { source: string; stage: TagValues['stage']; error: { type: ErrorType; code: string }; destination?: string }): MetricTags<'errors'> {
  const component: Pick<TagValues, 'component_id' | 'component_kind'> = o.destination !== undefined
    ? { component_id: o.destination, component_kind: 'destination' }
    : { component_id: o.source, component_kind: 'source' };
  return { source: o.source, ...component, error_type: o.error.type, stage: o.stage, code: o.error.code };
}

type EventSink = (name: string, properties: Record<string, string>) => void;

const INSTRUMENTATION_SCOPE = 'message-trace-collector';

/** OpenTelemetry metrics plus custom events (through the sink, e.g. Application Insights). */
export class OtelTelemetry implements Telemetry {
  private meterInstance: Meter | undefined;
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, Map<string, { value: number; attributes: Attributes }>>();

  constructor(private readonly sink: EventSink) {}

  /** Resolved at first use, so a MeterProvider registered after construction is still used. */
  private get meter(): Meter {
    this.meterInstance ??= metrics.getMeter(INSTRUMENTATION_SCOPE);
    return this.meterInstance;
  }

  count(metric: MetricKey, value: number, attributes: Attributes): void {
    const m = METRICS[metric];
    let c = this.counters.get(m.name);
    if (!c) this.counters.set(m.name, (c = this.meter.createCounter(m.name, { unit: m.unit, description: m.description })));
    c.add(value, attributes);
  }

  record(metric: MetricKey, value: number, attributes: Attributes): void {
    const m = METRICS[metric];
    let h = this.histograms.get(m.name);
    if (!h) this.histograms.set(m.name, (h = this.meter.createHistogram(m.name, { unit: m.unit, description: m.description })));
    h.record(value, attributes);
  }

  gauge(metric: MetricKey, value: number, attributes: Attributes): void {
    const m = METRICS[metric];
    let series = this.gauges.get(m.name);
    if (!series) {
      series = new Map();
      this.gauges.set(m.name, series);
      const observed = series;
      this.meter.createObservableGauge(m.name, { unit: m.unit, description: m.description }).addCallback((result) => {
        for (const s of observed.values()) result.observe(s.value, s.attributes);
      });
    }
    series.set(JSON.stringify(attributes), { value, attributes });
  }

  event(name: string, properties: Record<string, string | number | boolean | undefined>): void {
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(properties)) if (v !== undefined) props[k] = String(v);
    this.sink(name, props);
  }
}

/** Keeps everything in memory, for tests. */
export class MemoryTelemetry implements Telemetry {
  readonly counts: { name: string; value: number; attributes: Attributes }[] = [];
  readonly gauges = new Map<string, { name: string; value: number; attributes: Attributes }>();
  readonly records: { name: string; value: number; attributes: Attributes }[] = [];
  readonly events: { name: string; properties: Record<string, string | number | boolean | undefined> }[] = [];
  count(metric: MetricKey, value: number, attributes: Attributes): void {
    this.counts.push({ name: METRICS[metric].name, value, attributes });
  }
  gauge(metric: MetricKey, value: number, attributes: Attributes): void {
    this.gauges.set(`${METRICS[metric].name} ${JSON.stringify(attributes)}`, { name: METRICS[metric].name, value, attributes });
  }
  record(metric: MetricKey, value: number, attributes: Attributes): void {
    this.records.push({ name: METRICS[metric].name, value, attributes });
  }
  event(name: string, properties: Record<string, string | number | boolean | undefined>): void {
    this.events.push({ name, properties });
  }
  total(name: string, filter: Partial<Attributes> = {}): number {
    return this.counts
      .filter((c) => c.name === name && Object.entries(filter).every(([k, v]) => c.attributes[k] === v))
      .reduce((a, c) => a + c.value, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Gauges refreshed by the planner timer (functions/plan.ts), once per source and run.

export interface GaugeDeps {
  ledger: Pick<Ledger, 'getHealth' | 'getCursor'>;
  clock: Clock;
  telemetry: Telemetry;
  /** The tenant budget (shared/budget): `usage(tenantId)` gives the grants in the current window. */
  budget?: { usage(tenantKey: string): Promise<{ used: number; allowed: number; waitedForDetail?: number }> };
}

/** Rows the planning run read just before (shared/planning/planner.ts PlanReads), reused instead of read again. */
export interface GaugeKnown {
  cursor?: { startMs: number; scheduledUntil: number };
  healthRead?: boolean;
  health?: { completedUntil?: number; settledUntil?: number };
  /** The tenant's budget usage the timer run read for every tenant at once (shared/planning/prefetch.ts). */
  budget?: { used: number; allowed: number; waitedForDetail?: number };
}

/**
 * Sets the lag, planning-lag and budget-use gauges of one source from its health row, its cursor
 * and the tenant budget. (The parked-slice gauge is set by the planner's recovery pass.)
 *
 * With `known` (what the planning run just read) it reads only what that run did not: a run that
 * planned read the cursor and the health row, a run with nothing due the cursor alone (issue 19:
 * no repeated reads). The budget is read on every run (page jobs use it between two runs that
 * plan, and a gauge kept from the last such run would show a budget the planner found unused):
 * from `known.budget`, the timer run's one query over the budget table, when it has the tenant.
 */
export async function refreshSourceGauges(deps: GaugeDeps, source: { id: string; tenantId: string; settleRereadsMs?: number[]; details?: { enabled: boolean } }, known?: GaugeKnown): Promise<void> {
  const now = deps.clock.now();
  const tags = { source: source.id };
  const [health, cursor] = await Promise.all([
    known?.healthRead ? known.health : deps.ledger.getHealth(source.id),
    known?.cursor ?? deps.ledger.getCursor(source.id),
  ]);
  const completedUntil = health?.completedUntil || cursor?.startMs || 0;
  if (completedUntil) deps.telemetry.gauge('lagSeconds', Math.max(0, Math.round((now - completedUntil) / 1000)), tags);
  if (cursor?.scheduledUntil) deps.telemetry.gauge('planningLagSeconds', Math.max(0, Math.round((now - cursor.scheduledUntil) / 1000)), tags);
  if (source.settleRereadsMs?.length) {
    const settledUntil = health?.settledUntil || cursor?.startMs || 0;
    if (settledUntil) deps.telemetry.gauge('settleLagSeconds', Math.max(0, Math.round((now - settledUntil) / 1000)), tags);
  }
  if (deps.budget) {
    const usage = known?.budget ?? await deps.budget.usage(source.tenantId);
    if (usage.allowed > 0) deps.telemetry.gauge('budgetUse', Math.round((usage.used / usage.allowed) * 1000) / 1000, tags);
    if (source.details?.enabled && usage.waitedForDetail !== undefined) deps.telemetry.gauge('budgetWaitedForDetail', usage.waitedForDetail, tags);
  }
}

// ---------------------------------------------------------------------------------------------
// Traces: the W3C traceparent that crosses the queue hop.

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C traceparent of the active span, or undefined when there is none (no SDK, no span). */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & TraceFlags.SAMPLED ? '01' : '00')}`;
}

/** Parses a W3C traceparent (version 00); undefined when it is missing or malformed. */
export function parseTraceparent(value: string | null | undefined): SpanContext | undefined {
  const m = TRACEPARENT.exec(String(value ?? '').trim().toLowerCase());
  if (!m) return undefined;
  const sc: SpanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(sc) ? sc : undefined;
}

export interface JobSpanOptions {
  /** The traceparent the queue message carried: the span becomes its child. */
  parent?: string | undefined;
  /** The Functions host's trace context of this invocation: linked (or the parent when `parent` is absent). */
  invocation?: string | null | undefined;
  kind?: SpanKind;
  attributes?: OtelAttributes;
}

/**
 * Runs `fn` in a new active span: a child of the job's traceparent (so a page, its continuation
 * and its retries are one trace), linked to the host's invocation trace. Jobs enqueued inside `fn`
 * carry this span's traceparent. An exception ends the span with status ERROR and is rethrown.
 * With no OpenTelemetry SDK registered this costs nothing.
 */
export async function withSpan<T>(name: string, opts: JobSpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = parseTraceparent(opts.parent);
  const invocation = parseTraceparent(opts.invocation);
  const parentSc = parent ?? invocation;
  const links: Link[] = parent && invocation && invocation.traceId !== parent.traceId ? [{ context: invocation, attributes: { 'mtc.link': 'functions-invocation' } }] : [];
  const parentCtx = parentSc ? trace.setSpanContext(ROOT_CONTEXT, parentSc) : ROOT_CONTEXT;
  const tracer = trace.getTracer(INSTRUMENTATION_SCOPE);
  return tracer.startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, links, ...(opts.attributes ? { attributes: opts.attributes } : {}) }, parentCtx, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The reference in docs/operations.md, generated from the declarations above.

export const REFERENCE_BEGIN = '<!-- telemetry-reference:begin (generated from shared/telemetry.ts by renderTelemetryReference; do not edit by hand) -->';
export const REFERENCE_END = '<!-- telemetry-reference:end -->';

const KIND_TEXT: Record<MetricKind, string> = {
  counter: 'counter (`sum(valueSum)`)',
  gauge: 'gauge (`max(valueMax)`)',
  histogram: 'histogram (`valueSum / valueCount`)',
};

/** The markdown of every metric, event and span, as docs/operations.md holds it between the markers. */
export function renderTelemetryReference(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    REFERENCE_BEGIN,
    '',
    '| metric | kind | unit | tags (`customDimensions`) | meaning |',
    '|---|---|---|---|---|',
    ...Object.values(METRICS as Record<string, MetricDeclaration>).map((m) =>
      `| \`${m.name}\` | ${KIND_TEXT[m.kind]} | \`${m.unit}\` | ${m.tags.map((t) => `\`${t}\``).join(', ')} | ${cell(m.description)} |`),
    '',
    '| custom event | properties (`customDimensions`) | meaning |',
    '|---|---|---|',
    ...(Object.keys(EVENTS) as (keyof typeof EVENTS)[]).map((k) =>
      `| \`${EVENTS[k]}\` | ${EVENT_PROPERTIES[k].properties.map((p) => `\`${p}\``).join(', ')} | ${cell(EVENT_PROPERTIES[k].description)} |`),
    '',
    `Spans: ${Object.values(SPANS).map((s) => `\`${s}\``).join(', ')} (see "Trace model" below).`,
    '',
    REFERENCE_END,
  ];
  return lines.join('\n');
}
