/**
 * The local Functions host: runs the compiled functions entry with exactly the registrations and
 * bindings the Azure Functions host would see, without Core Tools.
 *
 * How: before the entry loads, `@azure/functions-core` (the module the real Node.js worker
 * provides) is installed in this process, so `@azure/functions` registers every `app.*` function,
 * hook and its programming model with us instead of falling back to test mode. Invocations then go
 * through the library with RPC-shaped requests, so the library itself builds `InvocationContext`,
 * `HttpRequest`, the timer object and trigger metadata, and converts return values and outputs.
 *
 * Triggers: timer (NCRONTAB on the host clock), storage queue (host.json `extensions.queues`
 * semantics against real storage, e.g. Azurite) and HTTP (routes, methods, function keys). Output
 * bindings: http and storage queue. Other triggers are listed in `functions` but not run.
 *
 * Timer schedule status (for past-due runs after a restart) is kept like the real host keeps it:
 * in the `AzureWebJobsStorage` account (blob azure-webjobs-hosts/timers/<hostId>/<function>/status,
 * hostId from `AzureFunctionsWebHost__hostid`, default "local-host"), else in memory. Two hosts that
 * share storage and host id share that status, as in Azure.
 *
 * ONE LOCAL HOST PER PROCESS: the library's registrations are process-wide. Only one host may
 * run at a time; a later host in the same process (after `stop()`) reuses the registrations of
 * the same entry (the entry's module code runs once per process; `env` must be right the first
 * time for values the entry reads at load time).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { systemClock, type Clock } from '../shared/time/clock';
import { normaliseQueueName, queueServiceFor, resolveBinding } from './bindings';
import { installCoreApi, type RegisteredFunction, type RpcDuration, type RpcInvocationRequest, type RpcInvocationResponse, type RpcTypedData } from './core-api';
import { loadHostConfig, type HostConfig } from './host-config';
import { buildHttpRoutes, LocalHttpServer, type HttpFunctionRoute } from './http-server';
import { Invoker, toHostLevel, type HostLog } from './invoker';
import { QueueListener } from './queue-listener';
import { approximateIntervalMs, MemoryScheduleStatusStore, parseTimerSchedule, TimerListener, type ScheduleStatus, type ScheduleStatusStore } from './timer-listener';
import { BlobScheduleStatusStore } from './schedule-status-blob';

export interface LocalHostOptions {
  /** Absolute path of the compiled functions entry, e.g. dist/functions/index.js. */
  entry: string;
  /** App settings, applied to process.env before the entry loads. */
  env?: Record<string, string>;
  /** Default: host.json at the repo root. */
  hostJsonPath?: string;
  /** Timers run on it (NCRONTAB computed in clock time, waits via clock.sleep). Default: system clock. */
  clock?: Clock;
  /** Default 127.0.0.1, port 7071; port 0 = a free port. */
  http?: { port?: number; host?: string };
  /** Default: random. Required by authLevel 'function' (and 'admin') routes and the admin API. */
  functionKey?: string;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  /** Default true (tests may drive timers with runTimer instead). */
  enableTimers?: boolean;
}

export interface LocalHost {
  readonly functions: ReadonlyArray<{ name: string; trigger: 'timer' | 'queue' | 'http' | string; binding: Record<string, unknown> }>;
  /** e.g. http://127.0.0.1:7071/api (valid as soon as the host is created). */
  readonly httpBaseUrl: string;
  readonly functionKey: string;
  /** Starts timers, queue listeners and HTTP request handling. */
  start(): Promise<void>;
  /** Invokes a timer function now (after a run of it already in progress); rejects with the function's error. */
  runTimer(name: string, opts?: { isPastDue?: boolean }): Promise<void>;
  /**
   * Resolves once every queue a trigger listens on holds no message (visible or invisible: a failed
   * message waiting out its visibilityTimeout counts) and no invocation is in flight, continuously
   * for `quietMs` (default 300). A `<queue>-poison` queue counts when a trigger listens on it (a
   * parking function); poisoned messages nobody consumes do not block. Rejects after `timeoutMs`
   * (default 60000) naming what is still pending. Real milliseconds.
   */
  drainUntilIdle(opts?: { timeoutMs?: number; quietMs?: number }): Promise<void>;
  stats(): { invocations: Record<string, { succeeded: number; failed: number }>; movedToPoison: number };
  /** Stops polling and timers, waits for in-flight invocations, closes the HTTP server. Idempotent. */
  stop(): Promise<void>;
}

type Trigger = 'timer' | 'queue' | 'http' | string;

interface FunctionEntry {
  name: string;
  fn: RegisteredFunction;
  trigger: Trigger;
  triggerName: string;
  binding: Record<string, unknown>;
}

interface QueueOutput {
  bindingName: string;
  client: QueueClient;
}

const HOST_STATE_KEY = Symbol.for('message-trace-collector.local-host.state');
interface ProcessHostState {
  entry?: string;
  running: boolean;
  capabilities?: Promise<Record<string, string>>;
}
function processHostState(): ProcessHostState {
  const g = globalThis as unknown as Record<symbol, ProcessHostState | undefined>;
  g[HOST_STATE_KEY] ??= { running: false };
  return g[HOST_STATE_KEY];
}

function findRepoRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'host.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

function defaultLog(level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
  if (level === 'debug') return;
  const line = `[${new Date().toISOString()}] ${level.toUpperCase()} ${message}${data && Object.keys(data).length ? ` ${JSON.stringify(data)}` : ''}`;
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

function triggerKind(type: string): Trigger {
  switch (type.toLowerCase()) {
    case 'timertrigger':
      return 'timer';
    case 'queuetrigger':
      return 'queue';
    case 'httptrigger':
      return 'http';
    default:
      return type;
  }
}

/** Milliseconds as a .NET TimeSpan ("00:10:00"), as host.json writes functionTimeout. */
function formatTimeSpan(ms: number): string {
  const total = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}

function durationMs(d: RpcDuration | null | undefined): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

function validateOptions(options: LocalHostOptions): void {
  if (!options || typeof options !== 'object') throw new TypeError('createLocalHost: options are required ({ entry: "/abs/path/dist/functions/index.js" })');
  if (typeof options.entry !== 'string' || !path.isAbsolute(options.entry)) {
    throw new TypeError(`createLocalHost: entry must be the absolute path of the compiled functions entry (e.g. path.resolve("dist/functions/index.js")), got ${JSON.stringify(options.entry)}`);
  }
  if (!fs.existsSync(options.entry)) throw new Error(`createLocalHost: entry ${options.entry} does not exist; run "npm run build" first`);
  if (options.env !== undefined) {
    if (typeof options.env !== 'object' || options.env === null) throw new TypeError('createLocalHost: env must be an object of app setting names to string values');
    for (const [k, v] of Object.entries(options.env)) {
      if (typeof v !== 'string') throw new TypeError(`createLocalHost: env.${k} must be a string (app settings are strings), got ${typeof v}`);
    }
  }
  const port = options.http?.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new RangeError(`createLocalHost: http.port must be an integer from 0 (free port) to 65535, got ${String(port)}`);
  }
  if (options.http?.host !== undefined && (typeof options.http.host !== 'string' || options.http.host === '')) {
    throw new TypeError('createLocalHost: http.host must be a host name or address such as "127.0.0.1"');
  }
  if (options.functionKey !== undefined && (typeof options.functionKey !== 'string' || options.functionKey.length < 8 || /\s/.test(options.functionKey))) {
    throw new TypeError('createLocalHost: functionKey must be a string of at least 8 characters without spaces (or omit it for a random key)');
  }
  if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('createLocalHost: log must be a function (level, message, data)');
}

function loadEntry(entry: string): Map<string, RegisteredFunction> {
  const state = processHostState();
  const registry = installCoreApi();
  const resolved = require.resolve(entry);
  if (state.entry !== undefined) {
    if (state.entry !== resolved) {
      throw new Error(`createLocalHost: this process already loaded functions from ${state.entry}; only one functions entry per process (start another process for ${resolved})`);
    }
    return registry.functions;
  }
  const before = registry.functions.size;
  const libraryLoadedEarlier = Object.keys(require.cache).some((k) => /[\\/]@azure[\\/]functions[\\/]dist[\\/]/.test(k));
  try {
    // The entry is a CommonJS module chosen at run time, loaded exactly as the worker loads `main`.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(resolved);
  } catch (err) {
    throw new Error(`Loading the functions entry ${resolved} failed: ${(err as Error).stack ?? String(err)}`, { cause: err });
  }
  state.entry = resolved;
  if (registry.functions.size === before) {
    throw new Error(
      libraryLoadedEarlier
        ? `The functions entry ${resolved} registered no functions with the local host: "@azure/functions" was used in this process before the host started and stayed in test mode. Create the local host before anything imports the functions.`
        : `The functions entry ${resolved} registered no functions; it must call app.timer / app.storageQueue / app.http from "@azure/functions" v4 when it loads.`,
    );
  }
  return registry.functions;
}

/**
 * Creates the local host: applies `env`, loads the entry, resolves every binding (failing with the
 * function and setting named when one cannot be resolved) and binds the HTTP port. Call `start()`
 * to begin. Only one host per process runs at a time (see the module comment).
 */
export async function createLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  validateOptions(options);
  const state = processHostState();
  if (state.running) throw new Error('createLocalHost: a local host is already running in this process; stop() it first (one host per process)');

  const log: HostLog = options.log ?? defaultLog;
  const clock = options.clock ?? systemClock;
  if (options.env) Object.assign(process.env, options.env);
  const env = process.env;

  const registry = installCoreApi();
  registry.systemLog = (level, _category, message) => log(toHostLevel(level), message, { category: 'system' });
  const registered = loadEntry(options.entry);
  state.running = true;

  try {
    // The worker asks the programming model for its capabilities once the app has loaded; this
    // also locks `app.setup()`, as in Azure.
    state.capabilities ??= Promise.resolve(registry.programmingModel?.getCapabilities?.({}) ?? {});
    const capabilities = await state.capabilities;
    if (capabilities.HttpUri) {
      throw new Error('The functions entry enables HTTP streaming (app.setup({ enableHttpStream: true })), which the local host does not support; leave it off');
    }
  } catch (err) {
    state.running = false;
    throw err;
  }

  try {
    const hostJsonPath = options.hostJsonPath ?? path.join(findRepoRoot(__dirname), 'host.json');
    const config: HostConfig = loadHostConfig(hostJsonPath, env);
    const invoker = new Invoker(registry, log);
    const functionKey = options.functionKey ?? randomBytes(24).toString('base64url');

    // Resolve every function's trigger and outputs now, so a missing setting fails at startup.
    const entries: FunctionEntry[] = [];
    const queueOutputs = new Map<string, QueueOutput[]>();
    const outputClients = new Map<string, QueueServiceClient>();
    for (const fn of registered.values()) {
      const where = `Function "${fn.metadata.name}"`;
      const bindings = Object.entries(fn.metadata.bindings);
      const triggerPair = bindings.find(([, b]) => /trigger$/i.test(String(b.type ?? '')));
      if (!triggerPair) throw new Error(`${where} has no trigger binding`);
      const [triggerName, triggerBinding] = triggerPair;
      const trigger = triggerKind(String(triggerBinding.type));
      const binding = resolveBinding(triggerBinding, env, `${where} trigger`);
      if (trigger === 'queue') binding.queueName = normaliseQueueName(binding.queueName, where);
      entries.push({ name: fn.metadata.name, fn, trigger, triggerName, binding });

      const outputs: QueueOutput[] = [];
      for (const [bindingName, b] of bindings) {
        if (bindingName === triggerName) continue;
        const type = String(b.type ?? '').toLowerCase();
        if (b.direction === 'out' && type === 'http') continue;
        if (b.direction === 'out' && type === 'queue') {
          const resolved = resolveBinding(b, env, `${where} output "${bindingName}"`);
          const queueName = normaliseQueueName(resolved.queueName, `${where} output "${bindingName}"`);
          const connectionKey = String(resolved.connection ?? '');
          let service = outputClients.get(connectionKey);
          if (!service) {
            service = queueServiceFor(resolved.connection, env, `${where} output "${bindingName}"`).client;
            outputClients.set(connectionKey, service);
          }
          outputs.push({ bindingName, client: service.getQueueClient(queueName) });
          continue;
        }
        throw new Error(
          `${where}: ${b.direction ?? 'in'} binding "${bindingName}" of type "${String(b.type)}" is not supported by the local host ` +
            '(supported: timer, storage queue and HTTP triggers; http and storage queue outputs); use the SDK in code instead',
        );
      }
      if (outputs.length > 0) queueOutputs.set(fn.metadata.name, outputs);
    }

    const statsByFunction: Record<string, { succeeded: number; failed: number }> = {};
    for (const e of entries) statsByFunction[e.name] = { succeeded: 0, failed: 0 };
    let movedToPoison = 0;
    const inFlight = new Set<Promise<unknown>>();

    const encodeOutput = (text: string) => (config.queues.messageEncoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text);
    const outputMessages = (data: RpcTypedData | null | undefined): string[] => {
      if (!data) return [];
      if (typeof data.string === 'string') return [data.string];
      if (data.bytes) return [Buffer.from(data.bytes).toString('utf8')];
      if (typeof data.json === 'string') {
        const parsed: unknown = JSON.parse(data.json);
        // The host writes each element of an array as its own message.
        return Array.isArray(parsed) ? parsed.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) : [data.json];
      }
      if (typeof data.int === 'number') return [String(data.int)];
      if (typeof data.double === 'number') return [String(data.double)];
      return [];
    };
    const writeOutputs = async (e: FunctionEntry, response: RpcInvocationResponse) => {
      const outputs = queueOutputs.get(e.name);
      if (!outputs) return;
      for (const out of outputs) {
        const data = out.bindingName === '$return' ? response.returnValue : response.outputData?.find((d) => d.name === out.bindingName)?.data;
        const messages = outputMessages(data);
        if (messages.length === 0) continue;
        await out.client.createIfNotExists();
        for (const m of messages) await out.client.sendMessage(encodeOutput(m));
      }
    };

    /** Runs one invocation with stats, logs and output bindings; rejects with the function's error. */
    const invoke = (e: FunctionEntry, request: RpcInvocationRequest): Promise<RpcInvocationResponse> => {
      const started = Date.now();
      // host.json functionTimeout, enforced as in Azure: past it the invocation fails (a queue
      // message is retried after its visibility timeout). Node cannot cancel the handler, so it
      // runs on in the background and stop() still waits for it.
      const limit = config.functionTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = limit
        ? new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Timeout value of ${formatTimeSpan(limit)} exceeded by function '${e.name}' (host.json functionTimeout)`)), limit);
          timer.unref();
        })
        : undefined;
      const slowTimer = timer;
      const p = (async () => {
        try {
          const running = invoker.invoke(e.fn, request);
          if (timedOut) {
            const background = running.catch(() => undefined);
            inFlight.add(background);
            void background.finally(() => inFlight.delete(background));
          }
          const response = timedOut ? await Promise.race([running, timedOut]) : await running;
          await writeOutputs(e, response);
          statsByFunction[e.name]!.succeeded += 1;
          log('debug', `Executed '${e.name}' (Succeeded, ${Date.now() - started} ms)`, { function: e.name });
          return response;
        } catch (err) {
          statsByFunction[e.name]!.failed += 1;
          const error = err instanceof Error ? err : new Error(String(err));
          log('error', `Executed '${e.name}' (Failed, ${Date.now() - started} ms): ${error.message}`, { function: e.name, error: error.stack ?? error.message });
          throw error;
        } finally {
          if (slowTimer) clearTimeout(slowTimer);
        }
      })();
      inFlight.add(p);
      void p.catch(() => undefined).finally(() => inFlight.delete(p));
      return p;
    };

    const abort = new AbortController();

    // Timers.
    let store: ScheduleStatusStore = new MemoryScheduleStatusStore();
    const hostStorage = env.AzureWebJobsStorage;
    if (hostStorage && /AccountName=|UseDevelopmentStorage=true/i.test(hostStorage)) {
      store = new BlobScheduleStatusStore(hostStorage, env.AzureFunctionsWebHost__hostid || 'local-host');
    }
    const timers = new Map<string, TimerListener>();
    for (const e of entries.filter((x) => x.trigger === 'timer')) {
      const where = `Function "${e.name}"`;
      if (typeof e.binding.schedule !== 'string') throw new Error(`${where}: timer schedule is required`);
      const schedule = parseTimerSchedule(e.binding.schedule, where);
      const monitorDefault = approximateIntervalMs(schedule, clock.now()) >= 60_000;
      const retry = e.fn.metadata.retryOptions;
      const runTimerOnce = async (timer: { isPastDue: boolean; scheduleStatus: ScheduleStatus | null }) => {
        const maxRetries = retry?.maxRetryCount ?? 0;
        for (let attempt = 0; ; attempt++) {
          const timerJson = {
            Schedule: { AdjustForDST: true },
            ScheduleStatus: timer.scheduleStatus
              ? { Last: timer.scheduleStatus.last, Next: timer.scheduleStatus.next, LastUpdated: timer.scheduleStatus.lastUpdated }
              : null,
            IsPastDue: timer.isPastDue,
          };
          try {
            await invoke(e, {
              inputData: [{ name: e.triggerName, data: { json: JSON.stringify(timerJson) } }],
              triggerMetadata: { sys: { json: JSON.stringify({ MethodName: e.name, UtcNow: new Date(clock.now()).toISOString() }) } },
              retryContext: retry ? { retryCount: attempt, maxRetryCount: maxRetries } : undefined,
            });
            return;
          } catch (err) {
            if (!retry || attempt >= maxRetries || abort.signal.aborted) throw err;
            const delay = retry.retryStrategy === 'exponentialBackoff'
              ? Math.min(durationMs(retry.maximumInterval), durationMs(retry.minimumInterval) * 2 ** attempt)
              : durationMs(retry.delayInterval);
            log('info', `Function ${e.name} failed; retry ${attempt + 1} of ${maxRetries} in ${delay} ms (clock time)`, { function: e.name });
            await clock.sleep(delay, abort.signal);
          }
        }
      };
      timers.set(e.name, new TimerListener({
        functionName: e.name,
        schedule,
        runOnStartup: e.binding.runOnStartup === true || e.binding.runOnStartup === 'true',
        useMonitor: e.binding.useMonitor === undefined ? monitorDefault : e.binding.useMonitor === true || e.binding.useMonitor === 'true',
        clock,
        store,
        log,
        invoke: runTimerOnce,
      }));
    }

    // Queue triggers.
    const queueListeners = new Map<string, QueueListener>();
    for (const e of entries.filter((x) => x.trigger === 'queue')) {
      const where = `Function "${e.name}"`;
      const { client } = queueServiceFor(e.binding.connection, env, where);
      const queueName = e.binding.queueName as string;
      queueListeners.set(e.name, new QueueListener({
        functionName: e.name,
        queue: client.getQueueClient(queueName),
        poison: client.getQueueClient(`${queueName}-poison`),
        options: config.queues,
        clock,
        log,
        invoke: async (message) => {
          await invoke(e, {
            inputData: [{ name: e.triggerName, data: message.data }],
            triggerMetadata: message.triggerMetadata,
          });
        },
        onBindingFailure: () => {
          statsByFunction[e.name]!.failed += 1;
        },
        onPoison: () => {
          movedToPoison += 1;
        },
      }));
    }

    // HTTP.
    let started = false;
    const httpEntries = entries.filter((x) => x.trigger === 'http');
    const byName = new Map(entries.map((e) => [e.name, e]));
    const server = new LocalHttpServer({
      host: options.http?.host ?? '127.0.0.1',
      port: options.http?.port ?? 7071,
      routePrefix: config.routePrefix,
      functionKey,
      log,
      isReady: () => started && !abort.signal.aborted,
      invoke: (route: HttpFunctionRoute, request, triggerMetadata) =>
        invoke(byName.get(route.functionName)!, {
          inputData: [{ name: route.triggerName, data: { http: request } }],
          triggerMetadata,
        }),
      runNonHttp: (name, input) => {
        const e = [...byName.values()].find((x) => x.name.toLowerCase() === name.toLowerCase());
        if (!e || e.trigger === 'http') return 'not-found';
        const timer = timers.get(e.name);
        if (timer) {
          timer.runNow(false).catch(() => undefined);
          return 'accepted';
        }
        if (e.trigger === 'queue') {
          const text = input ?? '';
          invoke(e, { inputData: [{ name: e.triggerName, data: { string: text } }], triggerMetadata: { QueueTrigger: { string: text } } }).catch(() => undefined);
          return 'accepted';
        }
        return 'not-found';
      },
    });
    server.setRoutes(buildHttpRoutes(httpEntries.map((e) => ({ name: e.name, triggerName: e.triggerName, binding: e.binding }))));
    const address = await server.listen();
    const displayHost = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address.includes(':') ? `[${address.address}]` : address.address;
    const httpBaseUrl = `http://${displayHost}:${address.port}${config.routePrefix ? `/${config.routePrefix}` : ''}`;

    for (const e of entries) {
      if (!['timer', 'queue', 'http'].includes(e.trigger)) {
        log('warn', `Function ${e.name} has a ${String(e.fn.metadata.bindings[e.triggerName]?.type)} trigger, which the local host does not run`, { function: e.name });
      }
    }

    let stopping: Promise<void> | undefined;
    let startPromise: Promise<void> | undefined;

    const host: LocalHost = {
      functions: entries.map((e) => ({ name: e.name, trigger: e.trigger, binding: { ...e.binding } })),
      httpBaseUrl,
      functionKey,

      start(): Promise<void> {
        if (stopping) return Promise.reject(new Error('LocalHost.start: the host was stopped; create a new one'));
        startPromise ??= (async () => {
          for (const hook of [...registry.hooks.appStart]) {
            await hook({ hookData: {}, appHookData: registry.appHookData, functionAppDirectory: path.dirname(options.entry) });
          }
          for (const listener of queueListeners.values()) await listener.prepare();
          started = true;
          for (const listener of queueListeners.values()) listener.start(abort.signal);
          if (options.enableTimers ?? true) for (const t of timers.values()) t.start(abort.signal);
          log('info', `Local Functions host started (${clock.describe()}): ${entries.map((e) => `${e.name} [${e.trigger}]`).join(', ')}`);
          for (const r of httpEntries) log('info', `  ${r.name}: ${httpBaseUrl}/${String(r.binding.route ?? r.name)}`);
        })();
        return startPromise;
      },

      async runTimer(name: string, opts?: { isPastDue?: boolean }): Promise<void> {
        const timer = timers.get(name);
        if (!timer) {
          throw new Error(`runTimer: "${name}" is not a timer function; timer functions: ${[...timers.keys()].join(', ') || '(none)'}`);
        }
        if (stopping) throw new Error('runTimer: the host is stopped');
        await timer.runNow(opts?.isPastDue ?? false);
      },

      async drainUntilIdle(opts?: { timeoutMs?: number; quietMs?: number }): Promise<void> {
        const timeoutMs = opts?.timeoutMs ?? 60_000;
        const quietMs = opts?.quietMs ?? 300;
        if (!(timeoutMs > 0) || !(quietMs >= 0)) throw new RangeError('drainUntilIdle: timeoutMs must be positive and quietMs must not be negative');
        const deadline = Date.now() + timeoutMs;
        let quietSince: number | undefined;
        for (;;) {
          const counts = await Promise.all(
            [...queueListeners.values()].map(async (l) => {
              return { queue: l.queueName, count: await l.messageCount(), busy: l.busy };
            }),
          );
          const waiting = counts.filter((c) => c.count > 0 || c.busy > 0);
          const idle = waiting.length === 0 && inFlight.size === 0;
          const pending = [
            ...waiting.map((c) => `queue ${c.queue} holds ${c.count} message(s) with ${c.busy} in flight`),
            ...(inFlight.size > 0 ? [`${inFlight.size} invocation(s) in flight`] : []),
          ].join('; ');
          const now = Date.now();
          if (idle) {
            quietSince ??= now;
            if (now - quietSince >= quietMs) return;
          } else {
            quietSince = undefined;
          }
          if (now >= deadline) throw new Error(`drainUntilIdle: not idle after ${timeoutMs} ms: ${pending || 'not quiet long enough'}`);
          await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - now))));
        }
      },

      stats() {
        const invocations: Record<string, { succeeded: number; failed: number }> = {};
        for (const [k, v] of Object.entries(statsByFunction)) invocations[k] = { ...v };
        return { invocations, movedToPoison };
      },

      stop(): Promise<void> {
        stopping ??= (async () => {
          abort.abort();
          await startPromise?.catch(() => undefined);
          await Promise.all([...timers.values()].map((t) => t.stopped()));
          await Promise.all([...queueListeners.values()].map((l) => l.stopped()));
          await server.close();
          while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
          if (started) {
            for (const hook of [...registry.hooks.appTerminate]) {
              try {
                await hook({ hookData: {}, appHookData: registry.appHookData });
              } catch (err) {
                log('error', `appTerminate hook failed: ${(err as Error).message}`);
              }
            }
          }
          state.running = false;
          log('info', 'Local Functions host stopped');
        })();
        return stopping;
      },
    };
    return host;
  } catch (err) {
    state.running = false;
    throw err;
  }
}

