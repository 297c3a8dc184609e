/**
 * An in-memory OpenTelemetry SDK for the telemetry tests: a tracer provider with an
 * InMemorySpanExporter, a MeterProvider whose reader the test collects on demand, and the
 * AsyncLocalStorage context manager (what Application Insights registers in Azure). Register it
 * once per test process, before the runtime is built.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { startTelemetry, type AppInsightsModule } from '../../shared/telemetry-setup';

/** A pull reader: the test calls `collect()` when it wants the current cumulative values. */
class TestMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface CollectedPoint {
  name: string;
  kind: 'counter' | 'gauge' | 'histogram';
  value: number;
  attributes: Record<string, unknown>;
}

export interface InMemoryOtel {
  spans(): ReadableSpan[];
  /** Every data point of every metric, read now. */
  collectMetrics(): Promise<CollectedPoint[]>;
  shutdown(): Promise<void>;
}

export function registerInMemoryOtel(): InMemoryOtel {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const reader = new TestMetricReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  assertRegistered(context.setGlobalContextManager(contextManager), 'context manager');
  assertRegistered(trace.setGlobalTracerProvider(tracerProvider), 'tracer provider');
  assertRegistered(metrics.setGlobalMeterProvider(meterProvider), 'meter provider');
  return {
    spans: () => spanExporter.getFinishedSpans(),
    async collectMetrics() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length) throw new Error(`metric collection failed: ${errors.map(String).join('; ')}`);
      const out: CollectedPoint[] = [];
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const m of scope.metrics) {
          const kind = m.dataPointType === DataPointType.HISTOGRAM ? 'histogram' : m.dataPointType === DataPointType.GAUGE ? 'gauge' : 'counter';
          for (const p of m.dataPoints) {
            const v = p.value as number | { sum?: number };
            out.push({ name: m.descriptor.name, kind, value: typeof v === 'number' ? v : (v.sum ?? 0), attributes: { ...p.attributes } });
          }
        }
      }
      return out;
    },
    async shutdown() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      contextManager.disable();
      trace.disable();
      metrics.disable();
      context.disable();
    },
  };
}

function assertRegistered(ok: boolean, what: string): void {
  if (!ok) throw new Error(`another OpenTelemetry ${what} is already registered in this process`);
}

/**
 * Starts telemetry as the Functions entry does, with the `applicationinsights` module replaced by
 * a fake that starts nothing and records custom events in `events` (no network). True when started.
 */
export function startFakeAppInsights(events: { name: string; properties?: Record<string, string> }[] = []): boolean {
  const fake: AppInsightsModule = {
    setup() {
      const chain = { setAutoCollectConsole: () => chain, setSendLiveMetrics: () => chain, start: () => undefined };
      return chain;
    },
    defaultClient: { config: {}, trackEvent: (e) => { events.push(e); } },
  };
  return startTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000' }, { loadAppInsights: () => fake });
}
