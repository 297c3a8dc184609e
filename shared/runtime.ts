/**
 * The runtime the function handlers share: configuration, clock, storage, ledger, queue,
 * destinations, secrets and one Graph client per source. Built once from app settings (or the
 * in-process overrides of the local host and tests), validated at start-up.
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
import { getRuntimeOverrides, onRuntimeOverridesChanged } from './runtime-overrides';
import type { SourceClients } from './worker/page-worker';
import { createSourceClients } from './api/clients';
import type { ContainerClient } from '@azure/storage-blob';
import { OtelTelemetry, type Telemetry } from './telemetry';
import { emitCustomEvent } from './telemetry-setup';
import { TenantBudget, budgetTableName } from './budget';

export const DEFAULT_PAGE_QUEUE = 'page-jobs';

export interface Runtime {
  config: CollectorConfig;
  configWarnings: string[];
  configOrigin: string;
  env: NodeJS.ProcessEnv;
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
  /** Blob container where pages wait for a failed destination. */
  spill: ContainerClient;
  /** Blob container of the seen-store (settle re-reads). */
  seen: ContainerClient;
  clientsFor(source: SourceConfig): SourceClients;
  /** How long a page claim lives without renewal (MTC_CLAIM_TTL_SECONDS, default 60 s). */
  claimTtlMs: number;
  /** Age after which a planner relays another planner's outbox (MTC_OUTBOX_STALE_SECONDS, default 120 s). */
  outboxStaleMs: number;
  /** A stable hash of a source's configuration (detects config changes). */
  configHashOf(source: SourceConfig): string;
}

/** A stable hash of a source's configuration: a change in it resumes a stopped source and re-runs the preflight. */
export function sourceConfigHash(source: SourceConfig): string {
  // The log level says nothing about the setup: changing it neither resumes a stopped source nor re-runs the preflight.
  const { logLevel: _logLevel, ...setup } = source;
  return createHash('sha256').update(JSON.stringify(setup)).digest('hex').slice(0, 16);
}

let cached: Promise<Runtime> | undefined;
onRuntimeOverridesChanged(() => {
  cached = undefined;
});

export function getRuntime(): Promise<Runtime> {
  cached ??= buildRuntime().catch((err) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

/** Forget the cached runtime (tests, config reloads). */
export function resetRuntime(): void {
  cached = undefined;
}

let trustedExtra = new Set<string>();
function trustExtraCertificates(pems: string[]): void {
  const fresh = pems.filter((p) => !trustedExtra.has(p));
  if (!fresh.length) return;
  trustedExtra = new Set([...trustedExtra, ...fresh]);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...trustedExtra]);
}

async function buildRuntime(): Promise<Runtime> {
  const overrides = getRuntimeOverrides();
  const env = overrides.env ?? process.env;
  const clock = overrides.clock ?? systemClock;
  // Per-source log levels (a source's `logLevel`), known once the configuration is read.
  const sourceLevels = new Map<string, LogLevel>();
  const log = levelFiltered(overrides.log ?? consoleLogger, (id) => sourceLevels.get(id), overrides.log ? 'debug' : 'info');
  const telemetry = overrides.telemetry ?? new OtelTelemetry((name, props) => emitCustomEvent(name, props, log));
  if (overrides.extraCaCertificates?.length) trustExtraCertificates(overrides.extraCaCertificates);

  let config: CollectorConfig;
  let configWarnings: string[] = [];
  let configOrigin = 'in-process';
  if (overrides.config) {
    config = overrides.config;
  } else {
    const loaded = loadConfigFromEnvironment(env);
    config = loaded.config;
    configWarnings = loaded.warnings;
    configOrigin = loaded.origin;
  }
  for (const s of config.sources) sourceLevels.set(s.id, s.logLevel);
  for (const w of configWarnings) log.log('warn', `configuration: ${w}`);

  const storage = storageFromEnvironment(env);
  const ledger = new Ledger(storage, env.MTC_TABLE_PREFIX || 'mtc');
  const queueName = env.MTC_PAGE_QUEUE || DEFAULT_PAGE_QUEUE;
  const spillName = `${ledger.prefix}spill`;
  const budgetTable = budgetTableName(env);
  const seenName = `${ledger.prefix}seen`;
  await storage.ensure([...ledger.tableNames(), budgetTable], [queueName, `${queueName}-poison`, `${queueName}-poison-poison`], [spillName, seenName]);
  const seen = storage.container(seenName);
  const budget = new TenantBudget(storage.table(budgetTable), clock, {
    ...(env.MTC_BUDGET_LIMIT ? { limit: Number(env.MTC_BUDGET_LIMIT) } : {}),
    ...(env.MTC_BUDGET_WINDOW_SECONDS ? { windowMs: Number(env.MTC_BUDGET_WINDOW_SECONDS) * 1000 } : {}),
    ...(env.MTC_BUDGET_HEADROOM ? { headroom: Number(env.MTC_BUDGET_HEADROOM) } : {}),
  });
  const spill = storage.container(spillName);
  const queue = new JobQueue(storage.queue(queueName), clock);
  const secrets = new DefaultSecretSource(env);
  const destinations = new Map<string, Destination>();
  for (const d of config.destinations) destinations.set(d.id, createDestination(d, secrets));

  const clients = new Map<string, SourceClients>();
  return {
    config, configWarnings, configOrigin, env, clock, log, storage, ledger, queue, queueName, secrets, destinations, telemetry, spill, seen, budget,
    outboxStaleMs: (Number(env.MTC_OUTBOX_STALE_SECONDS) || 120) * 1000,
    claimTtlMs: (Number(env.MTC_CLAIM_TTL_SECONDS) || 60) * 1000,
    clientsFor(source) {
      let c = clients.get(source.id);
      if (!c) {
        c = createSourceClients(source, secrets, clock);
        clients.set(source.id, c);
      }
      return c;
    },
    configHashOf: sourceConfigHash,
  };
}
