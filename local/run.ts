/**
 * Runs the collector locally the way Azure would: embedded Azurite storage, the real function
 * handlers in the local Functions host, and by default the bundled Message Trace simulator as the
 * tenant with NDJSON files under ./out. Used by `npm start` (local/cli.ts) and the end-to-end tests.
 */
import path from 'node:path';
import { createLocalHost, type LocalHost } from './host';
import { startAzurite, type RunningAzurite } from './azurite';
import { distributionListFromEnv, startSimulator, type Simulator, type SimulatorOptions } from '../simulator';
import { loadConfigFile, parseConfig } from '../shared/components';
import type { CollectorConfig } from '../shared/components';
import { createRuntime, getRuntime, provideRuntime, type RuntimeOptions } from '../shared/runtime';
import { readSettings } from '../shared/settings';
import { AcceleratedClock, systemClock, type Clock } from '../shared/time/clock';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FUNCTIONS_ENTRY = path.join(REPO_ROOT, 'dist', 'functions', 'index.js');
export const SIMULATOR_SECRET_ENV = 'MTC_SIMULATOR_CLIENT_SECRET';

export interface LocalRunOptions {
  /** A configuration file (a real tenant, or any endpoints). Default: the bundled simulator. */
  configPath?: string;
  /** A configuration document built once the simulator is up (tests). Used instead of the default. */
  configDoc?: (sim: Simulator) => unknown;
  /** Simulator options (ignored with configPath). The clock comes from `clock`/`speed`. */
  simulatorOptions?: Omit<SimulatorOptions, 'clock'>;
  /** The clock shared by the simulator, the planner and the workers. Default: real time, or `speed`. */
  clock?: Clock;
  /** Folder for the default file destination. Default ./out */
  outDir?: string;
  /** HTTP port of the local Functions host (0 = free). Default 7071. */
  port?: number;
  /** Clock speed factor for the simulator run (1 = real time). */
  speed?: number;
  /** Simulator traffic volume. */
  rowsPerDay?: number;
  /** Where collection starts (default -2h@h with the simulator). */
  start?: string;
  /** An existing storage connection string instead of embedded Azurite. */
  storageConnectionString?: string;
  /** A folder to keep Azurite's data between runs (default: in memory). */
  storageLocation?: string;
  /** Planner schedule (NCRONTAB). Default every minute. */
  planSchedule?: string;
  enableTimers?: boolean;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
}

export interface LocalRun {
  host: LocalHost;
  simulator?: Simulator;
  azurite?: RunningAzurite;
  config: CollectorConfig;
  clock: Clock;
  stop(): Promise<void>;
}

export function defaultSimulatorConfig(sim: Simulator, opts: { outDir: string; start: string }): unknown {
  const t = sim.tenants[0]!;
  return {
    sources: [{
      id: 'simulator',
      tenantId: t.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: `env:${SIMULATOR_SECRET_ENV}` },
      start: opts.start,
      collectionDelay: '5m',
      sliceLength: '1h',
      fields: { _sourceCategory: 'o365/messagetrace/simulator' },
      destinations: ['local'],
    }],
    destinations: [{ id: 'local', type: 'file', directory: opts.outDir }],
  };
}

export async function startLocalRun(options: LocalRunOptions = {}): Promise<LocalRun> {
  const log = options.log ?? (() => {});
  // A configuration file is checked before anything starts, so its errors come first and alone.
  const fromFile = options.configPath ? loadConfigFile(path.resolve(options.configPath), process.env, { label: '--config' }) : undefined;
  let azurite: RunningAzurite | undefined;
  let simulator: Simulator | undefined;
  let connectionString = options.storageConnectionString ?? process.env.JobsStorage;
  if (!connectionString) {
    azurite = await startAzurite({ ...(options.storageLocation ? { location: options.storageLocation } : {}) });
    connectionString = azurite.connectionString;
  }

  let clock: Clock = options.clock ?? systemClock;
  let config: CollectorConfig | undefined;
  const overrides: RuntimeOptions = {};
  try {
    if (!options.configPath) {
      if (!options.clock && options.speed && options.speed !== 1) clock = new AcceleratedClock(Date.now(), options.speed);
      simulator = await startSimulator({
        https: true,
        // MTC_SIM_DISTRIBUTION_LIST=3000 adds one 3000-recipient mail (simulator/README.md).
        tenants: [{ rowsPerDay: options.rowsPerDay ?? 50_000, traffic: distributionListFromEnv(process.env, clock.now()) ?? {} }],
        ...options.simulatorOptions,
        clock,
      });
      process.env[SIMULATOR_SECRET_ENV] = simulator.tenants[0]!.clientSecret;
      const doc = options.configDoc
        ? options.configDoc(simulator)
        : defaultSimulatorConfig(simulator, { outDir: path.resolve(options.outDir ?? 'out'), start: options.start ?? '-2h@h' });
      config = parseConfig(doc, { env: process.env }).config;
      overrides.config = config;
      overrides.extraCaCertificates = simulator.caCertificatePem ? [simulator.caCertificatePem] : [];
    } else {
      const file = path.resolve(options.configPath);
      const loaded = fromFile!;
      for (const w of loaded.warnings) log('warn', `configuration: ${w}`);
      config = loaded.config;
      overrides.config = config;
      process.env.MTC_CONFIG_PATH = file;
      delete process.env.MTC_CONFIG;
    }
    overrides.clock = clock;

    const settings = readSettings(process.env);
    const env: Record<string, string> = {
      JobsStorage: connectionString,
      AzureWebJobsStorage: connectionString,
      MTC_PLAN_SCHEDULE: options.planSchedule ?? process.env.MTC_PLAN_SCHEDULE ?? '0 */1 * * * *',
      MTC_PAGE_QUEUE: settings.pageQueue,
      MTC_TABLE_PREFIX: settings.tablePrefix,
    };
    for (const [k, v] of Object.entries(env)) process.env[k] = v;
    // Validate the settings and the configuration and create queues and tables before anything runs;
    // the function handlers this host loads use this runtime.
    const rt = await createRuntime({ ...overrides, env: process.env });
    provideRuntime(rt);
    config = rt.config;

    const host = await createLocalHost({
      entry: FUNCTIONS_ENTRY,
      env,
      clock,
      http: { port: options.port ?? 7071 },
      log,
      enableTimers: options.enableTimers ?? true,
    });
    await host.start();
    return {
      host, simulator, azurite, config, clock,
      async stop() {
        await host.stop();
        await simulator?.stop();
        await azurite?.stop();
      },
    };
  } catch (err) {
    await simulator?.stop();
    await azurite?.stop();
    throw err;
  }
}

export interface SourceSummary {
  id: string;
  enabled: boolean;
  /** The source's health state at the end (Pending, Started, …, Collecting, Error, Stopping). */
  state: string;
  /** The last error recorded for the source, if any (never a secret). */
  lastError?: { type?: string; code?: string; message?: string; fix?: string; excerpt?: string };
  slices: { done: number; parked: number; pending: number; fetching: number };
  rowsFetched: number;
  requests: number;
  completedUntil?: string;
  /** Per destination: rows it acknowledged (directly and from its backlog), its state and what still waits for it. */
  destinations: { id: string; rowsForwarded: number; state: string; waiting: number; parkReason?: string; lastError?: SourceSummary['lastError'] }[];
}

export interface RunSummary {
  sources: SourceSummary[];
  parked: number;
}

function parseLastError(text: string | undefined): SourceSummary['lastError'] | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as SourceSummary['lastError'];
    return v && typeof v === 'object' ? v : { message: String(v) };
  } catch {
    return { message: text };
  }
}

/** Rows fetched and forwarded, requests used, state and last error, per source and destination, from the ledger. */
export async function summarise(): Promise<RunSummary> {
  const rt = await getRuntime();
  const out: RunSummary = { sources: [], parked: 0 };
  for (const source of rt.config.sources) {
    const slices = { done: 0, parked: 0, pending: 0, fetching: 0 };
    let rowsFetched = 0, requests = 0;
    const forwarded = new Map<string, number>(source.destinations.map((d) => [d, 0]));
    for await (const s of rt.ledger.listSlices(source.id)) {
      slices[s.state] += 1;
      rowsFetched += s.rows;
      requests += s.requests;
      for (const [d, m] of Object.entries(s.marks)) forwarded.set(d, (forwarded.get(d) ?? 0) + m.rows);
    }
    const health = await rt.ledger.getHealth(source.id);
    const lastError = parseLastError(health?.lastError);
    out.parked += slices.parked;
    const destinations: SourceSummary['destinations'] = [];
    for (const [id, rows] of forwarded) {
      const p = await rt.backlog.getProgress(source.id, id);
      const destError = p && p.state !== 'ok' ? parseLastError(p.lastError) : undefined;
      destinations.push({
        id, rowsForwarded: rows + (p?.drainedEvents ?? 0), state: p?.state ?? 'ok', waiting: p?.state === 'ok' ? 0 : p?.pages ?? 0,
        ...(p?.parkReason ? { parkReason: p.parkReason } : {}), ...(destError ? { lastError: destError } : {}),
      });
    }
    out.sources.push({
      id: source.id, enabled: source.enabled,
      state: !source.enabled ? 'Stopping' : health?.state ?? 'Pending',
      ...(lastError ? { lastError } : {}),
      slices, rowsFetched, requests,
      ...(health?.completedUntil ? { completedUntil: new Date(health.completedUntil).toISOString() } : {}),
      destinations,
    });
  }
  return out;
}

/** What one run added: `after` minus `before` for the counters (slices, rows, requests, forwarded). */
export function summaryDelta(before: RunSummary, after: RunSummary): RunSummary {
  const prev = new Map(before.sources.map((s) => [s.id, s]));
  return {
    parked: after.parked,
    sources: after.sources.map((s) => {
      const b = prev.get(s.id);
      if (!b) return s;
      const fwd = new Map(b.destinations.map((d) => [d.id, d.rowsForwarded]));
      return {
        ...s,
        rowsFetched: s.rowsFetched - b.rowsFetched,
        requests: s.requests - b.requests,
        destinations: s.destinations.map((d) => ({ ...d, rowsForwarded: d.rowsForwarded - (fwd.get(d.id) ?? 0) })),
      };
    }),
  };
}

/**
 * Why a `--once` run failed, one line per problem (empty: it succeeded). A run fails when an
 * enabled source ends in Error or Stopping, when a slice is parked, when a destination is left
 * behind (units wait in its backlog) or parked, or when an enabled source that had work planned
 * completed none of it. `run` holds this run's counters, `total` the ledger's.
 */
export function onceFailures(run: RunSummary, total: RunSummary, opts: { gaveUp?: boolean } = {}): string[] {
  const problems: string[] = [];
  const totals = new Map(total.sources.map((s) => [s.id, s]));
  for (const s of run.sources) {
    if (!s.enabled) continue;
    const t = totals.get(s.id) ?? s;
    if (s.state === 'Error' || s.state === 'Stopping') problems.push(`source ${s.id} ended in ${s.state}`);
    if (t.slices.parked > 0) problems.push(`source ${s.id} has ${t.slices.parked} parked slice(s)`);
    for (const d of t.destinations) {
      if (d.state === 'parked') problems.push(`destination ${d.id} of source ${s.id} is parked (${d.parkReason ?? 'limit'})`);
      else if (d.state === 'lagging') problems.push(`destination ${d.id} of source ${s.id} is behind: ${d.waiting} unit(s) wait in its backlog`);
    }
    const planned = t.slices.done + t.slices.parked + t.slices.pending + t.slices.fetching;
    if (planned > 0 && t.slices.done === 0) problems.push(`source ${s.id} collected nothing of what was planned`);
    else if (opts.gaveUp && t.slices.pending + t.slices.fetching > 0) problems.push(`source ${s.id} has ${t.slices.pending + t.slices.fetching} slice(s) still pending when the run gave up`);
  }
  return problems;
}

/** A number that grows whenever any source completes work (slices done or parked, rows fetched, rows a destination's drain delivered). */
async function progressMark(): Promise<number> {
  const s = await summarise();
  return s.sources.reduce((a, x) => a + x.slices.done + x.slices.parked + x.rowsFetched + x.destinations.reduce((b, d) => b + d.rowsForwarded, 0), 0);
}

/**
 * Plans and drains until no source's cursor moves any more (a catch-up longer than one 10-day
 * window takes several planning rounds). With `giveUpAfterMs`, stops waiting once no source has
 * made progress (a slice done or parked, rows fetched) for that long in real time, and resolves
 * `{ gaveUp: true }`: an endpoint that stays unreachable ends the run in bounded time, while a
 * long catch-up that keeps moving runs to its end. Retries still queued are left to the next run.
 */
export async function runOnce(run: LocalRun, opts: { timeoutMs?: number; giveUpAfterMs?: number } = {}): Promise<{ gaveUp: boolean }> {
  const rt = await getRuntime();
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  for (let round = 0; round < 100; round++) {
    const before = await Promise.all(rt.config.sources.map((s) => rt.ledger.getCursor(s.id)));
    await run.host.runTimer('plan');
    if (opts.giveUpAfterMs === undefined) {
      await run.host.drainUntilIdle({ timeoutMs: Math.max(1, deadline - Date.now()) });
    } else {
      let mark = await progressMark();
      let progressAt = Date.now();
      for (;;) {
        try {
          await run.host.drainUntilIdle({ timeoutMs: 2_000 });
          break;
        } catch (err) {
          if (!/not idle/.test((err as Error).message)) throw err;
        }
        const now = Date.now();
        const m = await progressMark();
        if (m !== mark) {
          mark = m;
          progressAt = now;
        } else if (now - progressAt >= opts.giveUpAfterMs) {
          return { gaveUp: true };
        }
        if (now >= deadline) throw new Error(`the run did not become idle within ${Math.round((opts.timeoutMs ?? 30 * 60_000) / 1000)} s`);
      }
    }
    const after = await Promise.all(rt.config.sources.map((s) => rt.ledger.getCursor(s.id)));
    const moved = after.some((c, i) => (c?.scheduledUntil ?? 0) !== (before[i]?.scheduledUntil ?? 0));
    if (!moved) return { gaveUp: false };
  }
  return { gaveUp: false };
}
