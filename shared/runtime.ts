/**
 * The runtime the function handlers share: configuration, settings, clock, storage, ledger, queue,
 * destinations, secrets and one Graph client per source. `createRuntime` is the one wiring: the
 * functions (through `getRuntime`, from app settings), the local host, the tests' worker harness
 * and the benchmark all build it, passing what they replace (a clock, a configuration, a logger,
 * telemetry, wrappers around storage and clients) as arguments. Settings are read once, typed and
 * checked (shared/settings.ts): a bad one stops the start with a SettingError naming it.
 */
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { CollectorConfig, SourceConfig } from './components';
import { loadConfigFromEnvironment } from './components';
import { DefaultSecretSource, type SecretSource } from './auth/secrets';
import { createDestination } from './destinations';
import type { Destination } from './destinations/destination';
import { consoleLogger, levelFiltered, type Logger, type LogLevel } from './log';
import { Ledger } from './state/ledger';
import { storageFromEnvironment, type StorageClients } from './state/storage';
import { JobQueue } from './queue/jobs';
import { systemClock, type Clock } from './time/clock';
import type { SourceClients } from './worker/page-worker';
import { createSourceClients } from './api/clients';
import { PageStore } from './worker/page-store';
import { SeenStore } from './settle/seen-store';
import { OtelTelemetry, type Telemetry } from './telemetry';
import { emitCustomEvent } from './telemetry-setup';
import { TenantBudget, budgetTableName } from './budget';
import { readSettings, type RuntimeSettings } from './settings';
import { BacklogStore } from './delivery/progress';
import { DetailStore } from './details/store';

export interface Runtime {
  config: CollectorConfig;
  configWarnings: string[];
  configOrigin: string;
  env: NodeJS.ProcessEnv;
  /** The app settings the runtime uses, typed and checked. */
  settings: RuntimeSettings;
  clock: Clock;
  log: Logger;
  storage: StorageClients;
  ledger: Ledger;
  queue: JobQueue;
  queueName: string;
  secrets: SecretSource;
  destinations: ReadonlyMap<string, Destination>;
  telemetry: Telemetry;
  /** The tenant request budget shared by every instance. */
  budget: TenantBudget;
  /** The page copies (table `<prefix>pages`, copies over 720 KiB of gzip in container `<prefix>spill`). */
  pages: PageStore;
  /** The seen-store of settle re-reads (table `<prefix>seen`, large records in the container of that name). */
  seen: SeenStore;
  /** Each destination's backlog and progress per source (table and container `<prefix>backlog`). */
  backlog: BacklogStore;
  /** The detail records of detail enrichment (table and container `<prefix>details`). */
  details: DetailStore;
  clientsFor(source: SourceConfig): SourceClients;
  /** How long a page claim lives without renewal (MTC_CLAIM_TTL_SECONDS, default 60 s). */
  claimTtlMs: number;
  /** Age after which a planner relays another planner's outbox (MTC_OUTBOX_STALE_SECONDS, default 120 s). */
  outboxStaleMs: number;
  /** A stable hash of a source's configuration (detects config changes). */
  configHashOf(source: SourceConfig): string;
  /**
   * Replaces the configuration, as a redeploy with a changed configuration would: destinations,
   * API clients and per-source log levels follow the new one.
   */
  reconfigure(config: CollectorConfig): void;
}

/** What a caller of createRuntime may give instead of the defaults. */
export interface RuntimeOptions {
  /** App settings. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: the system clock. */
  clock?: Clock;
  /** Storage clients, or a wrapper of the ones built from the env's JobsStorage (crash tests, meters). Default: from the env. */
  storage?: StorageClients | ((fromEnv: StorageClients) => StorageClients);
  /** Where metrics and events go (tests use MemoryTelemetry). Default: OpenTelemetry + App Insights. */
  telemetry?: Telemetry;
  /** A logger that receives every line (tests scan them). Default: the console, filtered by the sources' log levels. */
  log?: Logger;
  /** A ready configuration (skips MTC_CONFIG / MTC_CONFIG_PATH). */
  config?: CollectorConfig;
  /** Extra PEM certificates to trust for outgoing https (the simulator's self-signed certificate). */
  extraCaCertificates?: string[];
  /** The page-job queue over its storage client (the benchmark holds delayed jobs in virtual time). Default: JobQueue. */
  queue?: (client: ReturnType<StorageClients['queue']>, clock: Clock) => JobQueue;
  /** Wrappers around each destination and each source's API clients (crash tests). */
  wrap?: {
    destination?: (id: string, d: Destination) => Destination;
    clients?: (c: SourceClients) => SourceClients;
  };
}

/** A stable hash of a source's configuration: a change in it resumes a stopped source and re-runs the preflight. */
export function sourceConfigHash(source: SourceConfig): string {
  // The log level says nothing about the setup: changing it neither resumes a stopped source nor re-runs the preflight.
  const { logLevel: _logLevel, ...setup } = source;
  return createHash('sha256').update(JSON.stringify(setup)).digest('hex').slice(0, 16);
}

let current: Promise<Runtime> | undefined;

/**
 * The process's runtime for the function handlers: the one the local host provided
 * (`provideRuntime`), else one built from app settings (process.env) on first use.
 */
export function getRuntime(): Promise<Runtime> {
  current ??= createRuntime().catch((err) => {
    current = undefined;
    throw err;
  });
  return current;
}

/** Makes `runtime` the one the function handlers of this process use (the local host, before it loads them). */
export function provideRuntime(runtime: Runtime | Promise<Runtime>): void {
  current = Promise.resolve(runtime);
}

/** Forget the process's runtime (tests, config reloads): the next getRuntime builds one from app settings. */
export function resetRuntime(): void {
  current = undefined;
}

let trustedExtra = new Set<string>();
function trustExtraCertificates(pems: string[]): void {
  const fresh = pems.filter((p) => !trustedExtra.has(p));
  if (!fresh.length) return;
  trustedExtra = new Set([...trustedExtra, ...fresh]);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...trustedExtra]);
}

/** Builds a runtime: reads and checks the settings and the configuration, creates queues, tables and containers. */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const env = options.env ?? process.env;
  const settings = readSettings(env);
  const clock = options.clock ?? systemClock;
  // Per-source log levels (a source's `logLevel`), known once the configuration is read.
  const sourceLevels = new Map<string, LogLevel>();
  const log = options.log ?? levelFiltered(consoleLogger, (id) => sourceLevels.get(id), 'info');
  const telemetry = options.telemetry ?? new OtelTelemetry((name, props) => emitCustomEvent(name, props, log));
  if (options.extraCaCertificates?.length) trustExtraCertificates(options.extraCaCertificates);

  let config: CollectorConfig;
  let configWarnings: string[] = [];
  let configOrigin = 'in-process';
  if (options.config) {
    config = options.config;
  } else {
    const loaded = loadConfigFromEnvironment(env);
    config = loaded.config;
    configWarnings = loaded.warnings;
    configOrigin = loaded.origin;
  }
  for (const w of configWarnings) log.log('warn', `configuration: ${w}`);

  const fromEnv = typeof options.storage === 'object' ? options.storage : storageFromEnvironment(env);
  const storage = typeof options.storage === 'function' ? options.storage(fromEnv) : fromEnv;
  const ledger = new Ledger(storage, settings.tablePrefix);
  const queueName = settings.pageQueue;
  const spillName = `${ledger.prefix}spill`;
  const budgetTable = budgetTableName(env);
  const seenName = `${ledger.prefix}seen`;
  const backlogName = `${ledger.prefix}backlog`;
  await storage.ensure(
    [...ledger.tableNames(), budgetTable, backlogName, DetailStore.tableName(ledger.prefix), PageStore.tableName(ledger.prefix), seenName],
    [queueName, `${queueName}-poison`, `${queueName}-poison-poison`],
    [spillName, seenName, backlogName, DetailStore.containerName(ledger.prefix)],
  );
  const budget = new TenantBudget(storage.table(budgetTable), clock, {
    ...(settings.budgetLimit !== undefined ? { limit: settings.budgetLimit } : {}),
    ...(settings.budgetWindowSeconds !== undefined ? { windowMs: settings.budgetWindowSeconds * 1000 } : {}),
    ...(settings.budgetHeadroom !== undefined ? { headroom: settings.budgetHeadroom } : {}),
    ...(settings.detailReserve !== undefined ? { detailReserve: settings.detailReserve } : {}),
    ...(settings.detailReserveFactor !== undefined ? { detailReserveFactor: settings.detailReserveFactor } : {}),
  });
  const queueClient = storage.queue(queueName);
  const queue = options.queue ? options.queue(queueClient, clock) : new JobQueue(queueClient, clock);
  const secrets = new DefaultSecretSource(env);
  const destinationsOf = (c: CollectorConfig): Map<string, Destination> => new Map(c.destinations.map((d) => {
    const destination = createDestination(d, secrets);
    return [d.id, options.wrap?.destination ? options.wrap.destination(d.id, destination) : destination];
  }));
  const clients = new Map<string, SourceClients>();

  const rt: Runtime = {
    config, configWarnings, configOrigin, env, settings, clock, log, storage, ledger, queue, queueName, secrets, telemetry, budget,
    destinations: destinationsOf(config),
    pages: new PageStore(storage.table(PageStore.tableName(ledger.prefix)), storage.container(spillName)),
    seen: new SeenStore(storage.table(seenName), storage.container(seenName)),
    backlog: new BacklogStore(storage.table(backlogName), storage.container(backlogName)),
    details: new DetailStore(storage, ledger.prefix),
    outboxStaleMs: settings.outboxStaleSeconds * 1000,
    claimTtlMs: settings.claimTtlSeconds * 1000,
    clientsFor(source) {
      let c = clients.get(source.id);
      if (!c) {
        c = createSourceClients(source, secrets, clock);
        if (options.wrap?.clients) c = options.wrap.clients(c);
        clients.set(source.id, c);
      }
      return c;
    },
    configHashOf: sourceConfigHash,
    reconfigure(next) {
      rt.config = next;
      rt.destinations = destinationsOf(next);
      clients.clear();
      levelsOf(next);
    },
  };
  const levelsOf = (c: CollectorConfig) => {
    sourceLevels.clear();
    for (const s of c.sources) sourceLevels.set(s.id, s.logLevel);
  };
  levelsOf(config);
  return rt;
}
