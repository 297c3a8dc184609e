/**
 * The `@azure/functions-core` module that the real Node.js worker provides to `@azure/functions`
 * at run time. The local host installs it (for that one module name) before the functions entry
 * loads, so the library leaves its "test mode" and hands every `app.timer` / `app.storageQueue` /
 * `app.http` registration, hook and its programming model to us, exactly as it would to the worker.
 *
 * The types below are the subset of the worker's `types-core/index.d.ts` (RPC shapes) that the
 * local host uses; they are structural copies, since the worker's package is not on npm.
 */
import Module from 'node:module';

// #region RPC shapes (Azure/azure-functions-nodejs-worker types-core/index.d.ts)
export type RpcLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type RpcLogCategory = 'user' | 'system' | 'customMetric';

export interface RpcBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  dataType?: 'undefined' | 'string' | 'binary' | 'stream' | null;
  properties?: Record<string, string> | null;
  [property: string]: unknown;
}

export interface RpcDuration {
  seconds?: number | null;
  nanos?: number | null;
}

export interface RpcRetryOptions {
  maxRetryCount?: number | null;
  delayInterval?: RpcDuration | null;
  minimumInterval?: RpcDuration | null;
  maximumInterval?: RpcDuration | null;
  retryStrategy?: 'exponentialBackoff' | 'fixedDelay' | null;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: RpcRetryOptions;
}

export interface RpcNullableString {
  value?: string | null;
}

export interface RpcHttpCookie {
  name?: string | null;
  value?: string | null;
  domain?: RpcNullableString | null;
  path?: RpcNullableString | null;
  expires?: { value?: { seconds?: number | null; nanos?: number | null } | null } | null;
  secure?: { value?: boolean | null } | null;
  httpOnly?: { value?: boolean | null } | null;
  sameSite?: 'none' | 'lax' | 'strict' | 'explicitNone' | null;
  maxAge?: { value?: number | null } | null;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  statusCode?: string | null;
  query?: Record<string, string> | null;
  enableContentNegotiation?: boolean | null;
  rawBody?: RpcTypedData | null;
  cookies?: RpcHttpCookie[] | null;
  nullableHeaders?: Record<string, RpcNullableString> | null;
  nullableParams?: Record<string, RpcNullableString> | null;
  nullableQuery?: Record<string, RpcNullableString> | null;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
}

export interface RpcParameterBinding {
  name?: string | null;
  data?: RpcTypedData | null;
}

export interface RpcException {
  source?: string | null;
  stackTrace?: string | null;
  message?: string | null;
}

export interface RpcInvocationRequest {
  invocationId?: string | null;
  functionId?: string | null;
  inputData?: RpcParameterBinding[] | null;
  triggerMetadata?: Record<string, RpcTypedData> | null;
  traceContext?: { traceParent?: string | null; traceState?: string | null; attributes?: Record<string, string> | null } | null;
  retryContext?: { retryCount?: number | null; maxRetryCount?: number | null; exception?: RpcException | null } | null;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: RpcParameterBinding[] | null;
  returnValue?: RpcTypedData | null;
}

export interface RpcFunctionMetadata {
  name?: string | null;
  directory?: string | null;
  scriptFile?: string | null;
  bindings?: Record<string, RpcBindingInfo> | null;
  functionId?: string | null;
  retryOptions?: RpcRetryOptions | null;
}

export type InvocationState = 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';

export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: RpcFunctionMetadata;
  state?: InvocationState;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: CoreInvocationContext): InvocationModel | Promise<InvocationModel>;
  getCapabilities?(defaultCapabilities: Record<string, string>): Record<string, string> | Promise<Record<string, string>>;
}

export type HookName = 'preInvocation' | 'postInvocation' | 'appStart' | 'appTerminate' | 'log';
export type HookCallback = (context: Record<string, unknown>) => unknown;
// #endregion

export class Disposable {
  static from(...likes: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => {
      for (const l of likes) l.dispose();
    });
  }
  #callOnDispose?: () => unknown;
  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }
  dispose(): unknown {
    const f = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return f?.();
  }
}

export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

/** Everything the library handed to the "worker". Process-wide, like the library's own state. */
export interface CoreRegistry {
  functions: Map<string, RegisteredFunction>;
  hooks: Record<HookName, HookCallback[]>;
  programmingModel?: ProgrammingModel;
  appHookData: Record<string, unknown>;
  /** Where `coreApi.log` (system logs outside an invocation) goes; the running host replaces it. */
  systemLog: (level: RpcLogLevel, category: RpcLogCategory, message: string) => void;
}

const REGISTRY_KEY = Symbol.for('message-trace-collector.local-host.core-registry');

/** The process-wide registry (one per process even if this module is loaded twice). */
export function coreRegistry(): CoreRegistry {
  const g = globalThis as unknown as Record<symbol, CoreRegistry | undefined>;
  g[REGISTRY_KEY] ??= {
    functions: new Map(),
    hooks: { preInvocation: [], postInvocation: [], appStart: [], appTerminate: [], log: [] },
    appHookData: {},
    systemLog: () => undefined,
  };
  return g[REGISTRY_KEY];
}

const HOOK_NAMES: readonly HookName[] = ['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log'];

function createCoreApi(registry: CoreRegistry) {
  return {
    version: 'message-trace-collector-local-host',
    hostVersion: '4.0.0-local',
    Disposable,
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
      if (!metadata?.name) throw new Error('registerFunction: metadata.name is required');
      if (typeof callback !== 'function') throw new Error(`registerFunction: function "${metadata.name}" has no handler; pass "handler" in its options`);
      if (registry.functions.has(metadata.name)) {
        throw new Error(`A function with the name "${metadata.name}" has already been registered; function names must be unique within the app`);
      }
      registry.functions.set(metadata.name, { metadata, callback });
      return new Disposable(() => registry.functions.delete(metadata.name));
    },
    registerHook(hookName: string, callback: HookCallback): Disposable {
      if (!HOOK_NAMES.includes(hookName as HookName)) {
        // The worker throws a RangeError for unknown hooks; the library relies on that for "log".
        const err = new RangeError(`"${hookName}" is not a valid hook name. Use one of ${HOOK_NAMES.join(', ')}.`);
        (err as unknown as { isAzureFunctionsSystemError: boolean }).isAzureFunctionsSystemError = true;
        throw err;
      }
      const list = registry.hooks[hookName as HookName];
      list.push(callback);
      return new Disposable(() => {
        const i = list.indexOf(callback);
        if (i >= 0) list.splice(i, 1);
      });
    },
    setProgrammingModel(model: ProgrammingModel): void {
      registry.programmingModel = model;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return registry.programmingModel;
    },
    log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
      registry.systemLog(level, category, message);
    },
  };
}

const CORE_MODULE = '@azure/functions-core';
let installed = false;

/**
 * Makes `require('@azure/functions-core')` return the local core API, process-wide. Idempotent.
 * Must run before `@azure/functions` first registers anything: the library caches the lookup.
 */
export function installCoreApi(): CoreRegistry {
  const registry = coreRegistry();
  if (installed) return registry;
  const api = createCoreApi(registry);
  const mod = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const originalLoad = mod._load;
  mod._load = function load(this: unknown, ...args: [string, unknown, boolean]): unknown {
    if (args[0] === CORE_MODULE) return api;
    return originalLoad.apply(this, args);
  };
  installed = true;
  return registry;
}
