/**
 * Application Insights 3.x for the worker process. `startTelemetry()` runs first thing in the
 * Functions entry (functions/index.ts imports functions/telemetry-first.ts before anything else),
 * so its OpenTelemetry instrumentation sees `got`, the Azure SDKs and http. It registers the
 * global OpenTelemetry tracer, meter and context providers that shared/telemetry.ts uses, and
 * custom events (`mtc.health`, `mtc.slice.parked`) go to `customEvents` through the shim's
 * `trackEvent`.
 *
 * With local auth disabled on the App Insights resource, ingestion authenticates with Entra ID:
 * APPLICATIONINSIGHTS_AUTHENTICATION_STRING `Authorization=AAD;ClientId=<client id>` (the Bicep
 * sets it) makes the exporter use the managed identity (user-assigned with ClientId or
 * AZURE_CLIENT_ID, else system-assigned).
 *
 * Without APPLICATIONINSIGHTS_CONNECTION_STRING (local runs, tests) nothing is started and this
 * module loads nothing.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { Logger } from './log';

/** What startTelemetry needs of the `applicationinsights` module (the 3.x shim API). */
export interface AppInsightsModule {
  setup(connectionString: string): AppInsightsSetup;
  readonly defaultClient: { config: { aadTokenCredential?: unknown; azureMonitorOpenTelemetryOptions?: unknown; enableAutoCollectPerformance?: boolean; samplingPercentage?: number }; trackEvent(e: { name: string; properties?: Record<string, string> }): void };
}
interface AppInsightsSetup {
  setAutoCollectConsole(value: boolean, collectConsoleLog?: boolean): AppInsightsSetup;
  setSendLiveMetrics(value: boolean): AppInsightsSetup;
  start(): unknown;
}

export interface TelemetrySettings {
  connectionString: string;
  /** The share of traces kept (MTC_TRACE_SAMPLING, shared/settings.ts). */
  samplingRatio: number;
  /** Entra ingestion with a managed identity: `clientId` for a user-assigned one, absent for system-assigned. */
  entra?: { clientId?: string };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reads the App Insights settings. Returns no settings without a connection string. Problems (an
 * authentication string that cannot be used) are returned as messages that name the setting and
 * the fix; they never repeat the connection string.
 */
export function telemetrySettingsFrom(env: NodeJS.ProcessEnv): { settings?: TelemetrySettings; problems: string[] } {
  const problems: string[] = [];
  const connectionString = (env.APPLICATIONINSIGHTS_CONNECTION_STRING ?? '').trim();
  if (!connectionString) return { problems };
  if (!/InstrumentationKey=/i.test(connectionString)) {
    problems.push('APPLICATIONINSIGHTS_CONNECTION_STRING has no InstrumentationKey=…; copy the connection string from the Application Insights resource (the Bicep sets it). Telemetry is off.');
    return { problems };
  }
  const samplingRatio = traceSamplingFrom(env, problems);
  const auth = (env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '').trim();
  if (!auth) return { settings: { connectionString, samplingRatio }, problems };
  const parts = new Map<string, string>();
  for (const part of auth.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) parts.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  if ((parts.get('authorization') ?? '').toUpperCase() !== 'AAD') {
    problems.push('APPLICATIONINSIGHTS_AUTHENTICATION_STRING must contain Authorization=AAD (for example "Authorization=AAD;ClientId=<client id of the managed identity>"); ingestion falls back to the instrumentation key, which a resource with local auth disabled rejects.');
    return { settings: { connectionString, samplingRatio }, problems };
  }
  const clientId = parts.get('clientid') || (env.AZURE_CLIENT_ID ?? '').trim() || undefined;
  if (clientId && !GUID.test(clientId)) {
    problems.push('APPLICATIONINSIGHTS_AUTHENTICATION_STRING ClientId (or AZURE_CLIENT_ID) must be the GUID client id of the user-assigned managed identity; using the system-assigned identity instead.');
    return { settings: { connectionString, samplingRatio, entra: {} }, problems };
  }
  return { settings: { connectionString, samplingRatio, entra: clientId ? { clientId } : {} }, problems };
}

/**
 * MTC_TRACE_SAMPLING through its declaration (shared/settings.ts, loaded here rather than imported
 * so that this module loads nothing before Application Insights). A bad value is a problem that
 * names the setting and the fix, and the default applies: telemetry still starts, and the
 * runtime's own settings check (readSettings) refuses the value with the same words.
 */
function traceSamplingFrom(env: NodeJS.ProcessEnv, problems: string[]): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RUNTIME_SETTINGS, readSettings } = require('./settings') as typeof import('./settings');
  const s = RUNTIME_SETTINGS.traceSampling;
  try {
    return readSettings({ [s.name]: env[s.name] }).traceSampling;
  } catch (err) {
    problems.push(`${(err as Error).message} Traces are sampled at the default ${s.default} meanwhile.`);
    return s.default;
  }
}

/**
 * Storage, token and instance-metadata calls: not recorded as dependencies. Their outcome is
 * already in the page span (`mtc.outcome`, ERROR status with the cause) and in `mtc.errors`.
 */
export function isQuietDependency(host: string | undefined, port?: string | number | null): boolean {
  const h = (host ?? '').toLowerCase();
  if (/\.(blob|queue|table|file|dfs)\.core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)$/.test(h)) return true;
  if (h === '169.254.169.254' || h === '169.254.169.253') return true; // instance metadata, managed identity
  if ((h === '127.0.0.1' || h === 'localhost') && [10000, 10001, 10002].includes(Number(port))) return true; // Azurite
  return false;
}

/**
 * What the Application Insights SDK collects (issue 19, docs/operations.md "What is recorded"):
 * - kept: the collector's own spans (`mtc.plan`, `mtc.page`), its metrics and custom events, and
 *   the HTTP dependencies that matter for a page: the API (Graph, RWS), token requests to Entra ID
 *   and the destinations;
 * - off: the Azure SDK instrumentation (a span per storage, Key Vault and identity SDK call), HTTP
 *   dependencies to storage and to the instance metadata endpoint, the database and logging
 *   library instrumentations (nothing here uses them), and performance counters.
 */
export const TELEMETRY_DESIGN = {
  instrumentationOptions: {
    http: {
      enabled: true,
      ignoreOutgoingRequestHook: (request: { hostname?: string | null; host?: string | null; port?: string | number | null }) =>
        isQuietDependency((request.hostname ?? request.host ?? '').replace(/:\d+$/, ''), request.port),
    },
    azureSdk: { enabled: false },
    mongoDb: { enabled: false },
    mySql: { enabled: false },
    redis: { enabled: false },
    redis4: { enabled: false },
    postgreSql: { enabled: false },
    bunyan: { enabled: false },
    winston: { enabled: false },
  },
  enableLiveMetrics: false,
  // Logs are never dropped with their trace (the option's default has changed between versions).
  enableTraceBasedSamplingForLogs: false,
} as const;

/**
 * The options given to Application Insights: TELEMETRY_DESIGN, and traces sampled at a fixed share
 * (MTC_TRACE_SAMPLING) by trace id, instead of the SDK's default of at most 5 traces a second per
 * process (a share that falls as the deployment grows, and differs between the planner's and the
 * page worker's instances, so a trace's spans were kept or dropped apart).
 */
export function telemetryDesign(samplingRatio: number): typeof TELEMETRY_DESIGN & { samplingRatio: number; tracesPerSecond: 0 } {
  return { ...TELEMETRY_DESIGN, samplingRatio, tracesPerSecond: 0 };
}

/**
 * How often custom metrics are exported (issue 19: telemetry by design). Every metric series is one
 * record per export interval, so the interval sets most of the metric bytes: 5 minutes instead of
 * the exporter's 1 minute cuts them about fivefold. The alert rules evaluate 15-minute windows
 * every 5 minutes, so they see every export. `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), when set,
 * wins (the exporter reads it).
 */
export const METRIC_EXPORT_INTERVAL_MS = 300_000;

let client: AppInsightsModule['defaultClient'] | undefined;

export interface StartTelemetryOptions {
  /** Loads the `applicationinsights` module (tests pass a fake; nothing else should). */
  loadAppInsights?: () => AppInsightsModule;
  /** Builds the managed identity credential (tests pass a fake). */
  managedIdentity?: (clientId: string | undefined) => unknown;
  /** Where setting problems are reported. Default: console.warn. */
  warn?: (message: string) => void;
}

/** Starts Application Insights once; true when it is (or already was) started. */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env, options: StartTelemetryOptions = {}): boolean {
  if (client) return true;
  const { settings, problems } = telemetrySettingsFrom(env);
  for (const p of problems) (options.warn ?? console.warn)(`telemetry: ${p}`);
  if (!settings) return false;
  process.env.OTEL_METRIC_EXPORT_INTERVAL ??= String(METRIC_EXPORT_INTERVAL_MS);
  // Loaded only when configured: it patches modules as it loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ai = options.loadAppInsights ? options.loadAppInsights() : (require('applicationinsights') as AppInsightsModule);
  const setup = ai.setup(settings.connectionString).setAutoCollectConsole(false).setSendLiveMetrics(false);
  // Telemetry by design (issue 19): the spans and metrics of docs/operations.md, not a dependency
  // row per storage call (a page makes ~6-12 of them: 15-20 KB of ingestion a page by default).
  ai.defaultClient.config.azureMonitorOpenTelemetryOptions = telemetryDesign(settings.samplingRatio);
  // The shim sets the distro's samplingRatio from its own samplingPercentage (100 when unset),
  // whatever the options say: both carry the share.
  ai.defaultClient.config.samplingPercentage = settings.samplingRatio * 100;
  ai.defaultClient.config.enableAutoCollectPerformance = false;
  if (settings.entra) {
    ai.defaultClient.config.aadTokenCredential = (options.managedIdentity ?? managedIdentityCredential)(settings.entra.clientId);
  }
  setup.start();
  client = ai.defaultClient;
  return true;
}

/**
 * The managed identity as a TokenCredential that loads @azure/identity on its first token request,
 * so nothing but applicationinsights loads before Application Insights starts.
 */
export class LazyManagedIdentityCredential implements TokenCredential {
  private inner: TokenCredential | undefined;
  constructor(readonly clientId: string | undefined) {}
  /** The underlying ManagedIdentityCredential (created on first use). */
  credential(): TokenCredential {
    if (!this.inner) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
      this.inner = this.clientId ? new ManagedIdentityCredential({ clientId: this.clientId }) : new ManagedIdentityCredential();
    }
    return this.inner;
  }
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    return this.credential().getToken(scopes, options);
  }
}

function managedIdentityCredential(clientId: string | undefined): unknown {
  return new LazyManagedIdentityCredential(clientId);
}

/** Forgets the started client (tests). It does not stop a real SDK. */
export function forgetTelemetryClient(): void {
  client = undefined;
}

/** A custom event: to Application Insights (`customEvents`) when it is started, else a debug log line. */
export function emitCustomEvent(name: string, properties: Record<string, string>, log: Logger): void {
  if (client) client.trackEvent({ name, properties });
  else log.log('debug', `event ${name}`, properties);
}
