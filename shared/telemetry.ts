/**
 * Telemetry, declared once (STYLE: OpenTelemetry metadata.yaml, Vector's component spec): every
 * source and destination emits the same metric names with the same tags, so one dashboard query
 * works for all of them. docs/operations.md lists them; test/unit/telemetry-names.test.ts keeps the
 * two in step.
 *
 * Metrics go through the OpenTelemetry API (Application Insights 3.x exports them when it is
 * started, see shared/telemetry-setup.ts); health changes are custom events.
 */
import { metrics, type Counter, type Histogram } from '@opentelemetry/api';

export const METRICS = {
  /** API requests sent, by source and status ("200", "429", "error"). */
  apiRequests: { name: 'mtc.api.requests', kind: 'counter', tags: ['source', 'status'] },
  /** Rows received from the API (after the half-open and repeat filters), by source. */
  eventsReceived: { name: 'mtc.events.received', kind: 'counter', tags: ['source'] },
  /** Bytes of API response bodies received, by source. */
  bytesReceived: { name: 'mtc.bytes.received', kind: 'counter', tags: ['source'] },
  /** Rows a destination acknowledged, by source and destination. */
  rowsForwarded: { name: 'mtc.rows.forwarded', kind: 'counter', tags: ['source', 'destination'] },
  /** Bytes sent to a destination (before compression), by source and destination. */
  bytesSent: { name: 'mtc.bytes.sent', kind: 'counter', tags: ['source', 'destination'] },
  /** Errors, by source, error_type (ThirdPartyConfig, ThirdPartyGeneric, FirstPartyGeneric), stage (receiving, processing, sending) and code. */
  errors: { name: 'mtc.errors', kind: 'counter', tags: ['source', 'error_type', 'stage', 'code'] },
  /** Rows dropped on purpose, by source and reason (outside_slice, page_boundary_repeat, duplicate_in_page). */
  discarded: { name: 'mtc.events.discarded', kind: 'counter', tags: ['source', 'reason', 'intentional'] },
  /** Seconds between now and the completed watermark, by source. */
  lagSeconds: { name: 'mtc.source.lag_seconds', kind: 'gauge', tags: ['source'] },
  /** Parked slices, by source. */
  slicesParked: { name: 'mtc.slices.parked', kind: 'gauge', tags: ['source'] },
  /** Requests of the tenant budget used in the current window, over the allowed requests (0..1), by source. */
  budgetUse: { name: 'mtc.budget.utilisation', kind: 'gauge', tags: ['source'] },
  /** Latency of one API page request in ms, by source. */
  pageLatency: { name: 'mtc.api.page_ms', kind: 'histogram', tags: ['source'] },
} as const;

export const EVENTS = {
  /** A source changed health state: properties source, state, previousState, errorType, code, message. */
  health: 'mtc.health',
  /** A slice was parked: properties source, slice, reason, errorType, code, message. */
  sliceParked: 'mtc.slice.parked',
} as const;

export type MetricKey = keyof typeof METRICS;
export type Attributes = Record<string, string>;

export interface Telemetry {
  count(metric: MetricKey, value: number, attributes: Attributes): void;
  gauge(metric: MetricKey, value: number, attributes: Attributes): void;
  record(metric: MetricKey, value: number, attributes: Attributes): void;
  event(name: string, properties: Record<string, string | number | boolean | undefined>): void;
}

type EventSink = (name: string, properties: Record<string, string>) => void;

/** OpenTelemetry metrics plus custom events (through the sink, e.g. Application Insights). */
export class OtelTelemetry implements Telemetry {
  private readonly meter = metrics.getMeter('message-trace-collector');
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, Map<string, { value: number; attributes: Attributes }>>();

  constructor(private readonly sink: EventSink) {}

  count(metric: MetricKey, value: number, attributes: Attributes): void {
    const m = METRICS[metric];
    let c = this.counters.get(m.name);
    if (!c) this.counters.set(m.name, (c = this.meter.createCounter(m.name)));
    c.add(value, attributes);
  }

  record(metric: MetricKey, value: number, attributes: Attributes): void {
    const m = METRICS[metric];
    let h = this.histograms.get(m.name);
    if (!h) this.histograms.set(m.name, (h = this.meter.createHistogram(m.name)));
    h.record(value, attributes);
  }

  gauge(metric: MetricKey, value: number, attributes: Attributes): void {
    const m = METRICS[metric];
    let series = this.gauges.get(m.name);
    if (!series) {
      series = new Map();
      this.gauges.set(m.name, series);
      const observed = series;
      this.meter.createObservableGauge(m.name).addCallback((result) => {
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
