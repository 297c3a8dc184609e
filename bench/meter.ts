/**
 * Operation counts for the cost model (docs/cost.md), measured while the benchmark runs the real
 * collector:
 *   - storage transactions: a loopback proxy in front of Azurite's blob, queue and table ports
 *     counts every request the storage SDKs send, by service and operation (a table $batch counts
 *     each operation in it); only the connection string changes, the collector's wiring does not;
 *   - telemetry: MeteredTelemetry keeps what MemoryTelemetry keeps and serializes what the
 *     Application Insights exporter would send (one metric envelope per series per export
 *     interval, one envelope per custom event), to count records and bytes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryTelemetry, METRICS, type Attributes, type MetricKey } from '../shared/telemetry';
import type { Clock } from '../shared/time/clock';

export type StorageService = 'blob' | 'queue' | 'table';

/** Counts by `service operation`, e.g. `queue put`, `table batch-op`, `blob read`. */
export type StorageCounts = Record<string, number>;

/** The operation a storage request is, from its method and URL (enough to price it). */
export function classify(service: StorageService, method: string, url: string): string {
  const u = new URL(url, 'http://x');
  const comp = u.searchParams.get('comp');
  if (service === 'queue') {
    if (/\/messages\/[^/]+$/.test(u.pathname)) return method === 'DELETE' ? 'delete-message' : 'update-message';
    if (u.pathname.endsWith('/messages')) {
      if (method === 'POST') return 'put-message';
      if (method === 'GET') return u.searchParams.get('peekonly') === 'true' ? 'peek' : 'get-messages';
      if (method === 'DELETE') return 'clear';
    }
    return comp ? `${method.toLowerCase()}-${comp}` : `${method.toLowerCase()}-queue`;
  }
  if (service === 'table') {
    if (u.pathname.endsWith('$batch')) return 'batch';
    if (/\/Tables(\(|$)/.test(u.pathname)) return `${method.toLowerCase()}-table`;
    return method === 'GET' ? 'read-entity' : 'write-entity';
  }
  if (comp === 'list' || method === 'GET' && u.searchParams.get('restype') === 'container') return 'list';
  if (u.searchParams.get('restype') === 'container') return `${method.toLowerCase()}-container`;
  if (comp === 'lease') return 'lease';
  return method === 'GET' || method === 'HEAD' ? 'read' : method === 'DELETE' ? 'delete' : 'write';
}

export interface StorageMeter {
  /** The connection string to give the collector (same account, through the counting proxies). */
  connectionString: string;
  counts(): StorageCounts;
  /**
   * The same counts by `service operation resource`, the resource being the table, queue or
   * container name (e.g. `table write-entity b1x2y3slices`): where the operations go, to find the
   * ones worth saving.
   */
  byResource(): StorageCounts;
  /**
   * Table entities the collector read (point reads and entities returned by queries), and the
   * queries that filter on a property other than PartitionKey/RowKey: the service scans the key
   * range for those whatever they return, so their cost is not the entities they return.
   */
  reads(): TableReads;
  reset(): void;
  close(): Promise<void>;
}

export interface TableReads {
  entities: number;
  queries: number;
  /** Queries with a filter on a non-key property (`state eq 'parked'`, ...). */
  nonKeyQueries: number;
}

/** True when a table query's $filter names a property other than PartitionKey and RowKey. */
export function filtersNonKey(url: string): boolean {
  const filter = new URL(url, 'http://x').searchParams.get('$filter');
  if (!filter) return false;
  const props = filter.replace(/'(?:[^']|'')*'/g, "''").match(/\b([A-Za-z_][A-Za-z0-9_]*)\s+(?:eq|ne|gt|ge|lt|le)\b/g) ?? [];
  return props.some((p) => !/^(PartitionKey|RowKey)\s/.test(p));
}

/** Starts one counting proxy per service in front of the Azurite behind `connectionString`. */
/** The table, queue or container a storage request names, without the prefix (`<prefix>slices` -> `slices`). */
export function resourceOf(url: string, prefix?: string): string {
  const first = new URL(url, 'http://x').pathname.split('/').filter(Boolean).find((seg) => !/^devstoreaccount\d*$/.test(seg)) ?? '';
  const name = decodeURIComponent(first).replace(/\(.*$/, '');
  return prefix && name.toLowerCase().startsWith(prefix.toLowerCase()) ? name.slice(prefix.length) || name : name;
}

export async function startStorageMeter(connectionString: string): Promise<StorageMeter> {
  let counts: StorageCounts = {};
  let detailed: StorageCounts = {};
  let upstreamErrors = 0;
  let reads: TableReads = { entities: 0, queries: 0, nonKeyQueries: 0 };
  const servers: http.Server[] = [];
  let cs = connectionString;
  for (const [service, key] of [['blob', 'BlobEndpoint'], ['queue', 'QueueEndpoint'], ['table', 'TableEndpoint']] as const) {
    const match = new RegExp(`${key}=(http://[^;]+)`).exec(connectionString);
    if (!match) throw new Error(`the storage meter needs ${key}=http://... in the connection string`);
    const target = new URL(match[1]!);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const op = classify(service, req.method ?? 'GET', req.url ?? '/');
        const n = op === 'batch' ? Math.max(1, (body.toString('latin1').match(/^Content-Type: application\/http/gim) ?? []).length) : 1;
        const name = `${service} ${op === 'batch' ? 'batch-op' : op}`;
        counts[name] = (counts[name] ?? 0) + n;
        const where = `${name} ${op === 'batch' ? resourceOf(/(?:POST|PUT|MERGE|PATCH|DELETE|GET) (\S+) HTTP\/1\.1/.exec(body.toString('latin1'))?.[1] ?? '') : resourceOf(req.url ?? '/')}`;
        detailed[where] = (detailed[where] ?? 0) + n;
        const tableRead = service === 'table' && op === 'read-entity';
        if (tableRead && !/\(PartitionKey=/.test(req.url ?? '')) {
          reads.queries++;
          if (filtersNonKey(req.url ?? '/')) reads.nonKeyQueries++;
        }
        const forward = (attempt: number): void => {
          const upstream = http.request({
            host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, agent,
          }, (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            if (tableRead && (up.statusCode ?? 0) < 300) {
              // One entity per "PartitionKey" property in the answer (a point read or a query page).
              let tail = '';
              up.on('data', (c: Buffer) => {
                const text = tail + c.toString('latin1');
                reads.entities += (text.match(/"PartitionKey":/g) ?? []).length - (tail.match(/"PartitionKey":/g) ?? []).length;
                tail = text.slice(-20);
              });
            }
            up.pipe(res);
          });
          upstream.on('error', (err: NodeJS.ErrnoException) => {
            // A kept-alive socket Azurite closed just as this request went out on it: the request never
            // reached the server, so it is sent again on a new socket (what Node documents for
            // req.reusedSocket). Anything else is the storage's answer to pass on: a 502.
            if (attempt === 0 && upstream.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent) {
              forward(1);
              return;
            }
            if (upstreamErrors++ < 5) process.stderr.write(`storage meter: ${service} ${req.method} failed upstream (${err.code ?? err.message}); answered 502\n`);
            if (!res.headersSent) res.writeHead(502).end(String(err));
            else res.destroy(err);
          });
          upstream.end(body);
        };
        forward(0);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    servers.push(server);
    const port = (server.address() as AddressInfo).port;
    cs = cs.replace(match[1]!, `http://127.0.0.1:${port}${target.pathname}`);
  }
  return {
    connectionString: cs,
    counts: () => ({ ...counts }),
    byResource: () => ({ ...detailed }),
    reads: () => ({ ...reads }),
    reset: () => { counts = {}; detailed = {}; reads = { entities: 0, queries: 0, nonKeyQueries: 0 }; },
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
    },
  };
}

/** Telemetry record counts and serialized bytes, by kind. */
export interface TelemetryCounts {
  metricRecords: number;
  metricBytes: number;
  eventRecords: number;
  eventBytes: number;
  /** Metric records by metric name (which series the bytes are). */
  metricRecordsByName?: Record<string, number>;
}

/** The Application Insights envelope (Breeze v2 JSON) of one metric series point or one event. */
function envelope(kind: 'Metric' | 'Event', time: number, data: Record<string, unknown>): string {
  return JSON.stringify({
    name: kind === 'Metric' ? 'Microsoft.ApplicationInsights.Metric' : 'Microsoft.ApplicationInsights.Event',
    time: new Date(time).toISOString(),
    iKey: '00000000-0000-0000-0000-000000000000',
    sampleRate: 100,
    tags: {
      'ai.cloud.role': 'func-mtc-xxxxxxxxxxxxx', 'ai.cloud.roleInstance': '0123456789abcdef0123456789abcdef',
      'ai.internal.sdkVersion': 'node22.12.0:otel1.30.0:dst3.16.0', 'ai.operation.id': '0123456789abcdef0123456789abcdef',
    },
    data: { baseType: kind === 'Metric' ? 'MetricData' : 'EventData', baseData: { ver: 2, ...data } },
  });
}

/**
 * MemoryTelemetry that also counts what would be exported: each metric series (name + attributes)
 * touched within an export interval is one metric record at the end of that interval (gauges are
 * reported at every interval while they hold a value), each event one record.
 */
export class MeteredTelemetry extends MemoryTelemetry {
  private readonly touched = new Map<string, { name: string; attributes: Attributes }>();
  private readonly held = new Map<string, { name: string; attributes: Attributes }>();
  private intervalStart: number;
  readonly exported: TelemetryCounts = { metricRecords: 0, metricBytes: 0, eventRecords: 0, eventBytes: 0, metricRecordsByName: {} };

  constructor(private readonly clock: Clock, private readonly exportIntervalMs = 60_000) {
    super();
    this.intervalStart = clock.now();
  }

  private roll(): void {
    while (this.clock.now() >= this.intervalStart + this.exportIntervalMs) {
      const at = this.intervalStart + this.exportIntervalMs;
      const series = new Map([...this.held, ...this.touched]);
      for (const s of series.values()) {
        const text = envelope('Metric', at, { metrics: [{ name: s.name, value: 1, count: 1, min: 1, max: 1 }], properties: s.attributes });
        this.exported.metricRecords++;
        this.exported.metricRecordsByName![s.name] = (this.exported.metricRecordsByName![s.name] ?? 0) + 1;
        this.exported.metricBytes += Buffer.byteLength(text);
      }
      this.touched.clear();
      this.intervalStart = at;
    }
  }

  private touch(metric: MetricKey, attributes: Attributes, held = false): void {
    this.roll();
    const name = METRICS[metric].name;
    const key = `${name} ${JSON.stringify(attributes)}`;
    (held ? this.held : this.touched).set(key, { name, attributes });
  }

  override count(metric: MetricKey, value: number, attributes: Attributes): void {
    super.count(metric, value, attributes);
    this.touch(metric, attributes);
  }

  override gauge(metric: MetricKey, value: number, attributes: Attributes): void {
    super.gauge(metric, value, attributes);
    this.touch(metric, attributes, true);
  }

  override record(metric: MetricKey, value: number, attributes: Attributes): void {
    super.record(metric, value, attributes);
    this.touch(metric, attributes);
  }

  override event(name: string, properties: Record<string, string | number | boolean | undefined>): void {
    super.event(name, properties);
    this.roll();
    const text = envelope('Event', this.clock.now(), { name, properties });
    this.exported.eventRecords++;
    this.exported.eventBytes += Buffer.byteLength(text);
  }

  /** Closes the current interval (call at the end of a run). */
  flush(): TelemetryCounts {
    this.roll();
    return { ...this.exported, metricRecordsByName: { ...this.exported.metricRecordsByName } };
  }
}

/** The serialized size of one request (function execution) and one dependency envelope, for the host's own telemetry. */
export function hostEnvelopeBytes(): { request: number; dependency: number } {
  const tags = { 'ai.cloud.role': 'func-mtc-xxxxxxxxxxxxx', 'ai.cloud.roleInstance': '0123456789abcdef0123456789abcdef', 'ai.operation.id': '0123456789abcdef0123456789abcdef', 'ai.operation.parentId': '0123456789abcdef', 'ai.operation.name': 'page-worker' };
  const request = JSON.stringify({ name: 'Microsoft.ApplicationInsights.Request', time: new Date(0).toISOString(), iKey: '00000000-0000-0000-0000-000000000000', tags, data: { baseType: 'RequestData', baseData: { ver: 2, id: '0123456789abcdef', name: 'page-worker', duration: '00:00:03.123', success: true, responseCode: '0', properties: { InvocationId: '01234567-89ab-cdef-0123-456789abcdef', TriggerReason: 'New queue message detected on page-jobs.', 'mtc.source': 'contoso', 'mtc.slice': '2026-03-20T12:00:00.000Z', 'mtc.page': '3' } } } });
  const dependency = JSON.stringify({ name: 'Microsoft.ApplicationInsights.RemoteDependency', time: new Date(0).toISOString(), iKey: '00000000-0000-0000-0000-000000000000', tags, data: { baseType: 'RemoteDependencyData', baseData: { ver: 2, id: '0123456789abcdef', name: 'GET /beta/admin/exchange/tracing/messageTraces', data: 'https://graph.microsoft.com/beta/admin/exchange/tracing/messageTraces?$top=5000&$filter=...', target: 'graph.microsoft.com', type: 'HTTP', duration: '00:00:02.950', resultCode: '200', success: true } } });
  return { request: Buffer.byteLength(request), dependency: Buffer.byteLength(dependency) };
}
