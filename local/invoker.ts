/**
 * Runs one invocation the way the Node.js worker's InvocationHandler does
 * (Azure/azure-functions-nodejs-worker src/eventHandlers/InvocationHandler.ts): the registered
 * programming model builds the invocation model from an RPC invocation request, then
 * getArguments → preInvocation hooks → invokeFunction → postInvocation hooks → getResponse.
 * So `@azure/functions` itself builds the InvocationContext, HttpRequest, trigger metadata and the
 * RPC response from what the local host sends, and user code sees what it would see in Azure.
 */
import { randomUUID } from 'node:crypto';
import type {
  CoreInvocationContext,
  CoreRegistry,
  FunctionCallback,
  HookCallback,
  InvocationState,
  RegisteredFunction,
  RpcFunctionMetadata,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
} from './core-api';

export type HostLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type HostLog = (level: HostLogLevel, message: string, data?: Record<string, unknown>) => void;

export function toHostLevel(level: RpcLogLevel): HostLogLevel {
  switch (level) {
    case 'trace':
    case 'debug':
    case 'none':
      return 'debug';
    case 'information':
      return 'info';
    case 'warning':
      return 'warn';
    default:
      return 'error';
  }
}

function readOnly(name: string): never {
  throw new Error(`Cannot assign "${name}" because it is read-only; modify its properties instead`);
}

async function runHooks(registry: CoreRegistry, name: 'preInvocation' | 'postInvocation', context: Record<string, unknown>): Promise<void> {
  for (const hook of [...registry.hooks[name]] as HookCallback[]) {
    await hook(context);
  }
}

export class Invoker {
  constructor(
    private readonly registry: CoreRegistry,
    private readonly log: HostLog,
  ) {}

  /**
   * Invokes `fn` with `request` (its invocationId is filled in when missing). Resolves with the
   * RPC response; rejects with the handler's (or binding's) error.
   */
  async invoke(fn: RegisteredFunction, request: RpcInvocationRequest): Promise<RpcInvocationResponse> {
    const model = this.registry.programmingModel;
    if (!model) throw new Error('No programming model was registered; the functions entry must use @azure/functions v4 (app.* calls)');
    const invocationId = request.invocationId ?? randomUUID();
    const req: RpcInvocationRequest = { ...request, invocationId, functionId: fn.metadata.functionId ?? fn.metadata.name };
    const metadata: RpcFunctionMetadata = {
      name: fn.metadata.name,
      functionId: fn.metadata.functionId ?? fn.metadata.name,
      bindings: fn.metadata.bindings,
      retryOptions: fn.metadata.retryOptions,
    };
    const functionName = fn.metadata.name;
    const registry = this.registry;
    const log = this.log;
    const logContext: { hookData?: Record<string, unknown>; invocationContext?: unknown } = {};

    const coreCtx: CoreInvocationContext = {
      invocationId,
      request: req,
      metadata,
      state: undefined as InvocationState | undefined,
      log(level: RpcLogLevel, category: RpcLogCategory, message: string) {
        let lvl = level;
        let msg = message;
        if (registry.hooks.log.length > 0 && category === 'user') {
          const hookCtx = {
            hookData: logContext.hookData ?? {},
            appHookData: registry.appHookData,
            invocationContext: logContext.invocationContext,
            category,
            level: lvl,
            message: msg,
          };
          for (const hook of registry.hooks.log) hook(hookCtx);
          lvl = hookCtx.level;
          msg = hookCtx.message;
        }
        log(toHostLevel(lvl), msg, { function: functionName, invocationId, category });
      },
    };

    const invocModel = await model.getInvocationModel(coreCtx);
    const hookData: Record<string, unknown> = {};
    const args = await invocModel.getArguments();
    const context = args.context;
    logContext.hookData = hookData;
    logContext.invocationContext = context;

    const preCtx = {
      get hookData() { return hookData; },
      set hookData(_v) { readOnly('hookData'); },
      get appHookData() { return registry.appHookData; },
      set appHookData(_v) { readOnly('appHookData'); },
      get invocationContext() { return context; },
      set invocationContext(_v) { readOnly('invocationContext'); },
      functionCallback: fn.callback as FunctionCallback,
      inputs: args.inputs,
    };
    coreCtx.state = 'preInvocationHooks';
    try {
      await runHooks(registry, 'preInvocation', preCtx);
    } finally {
      coreCtx.state = undefined;
    }

    const postCtx = {
      get hookData() { return hookData; },
      set hookData(_v) { readOnly('hookData'); },
      get appHookData() { return registry.appHookData; },
      set appHookData(_v) { readOnly('appHookData'); },
      get invocationContext() { return context; },
      set invocationContext(_v) { readOnly('invocationContext'); },
      inputs: preCtx.inputs,
      result: null as unknown,
      error: null as unknown,
    };
    coreCtx.state = 'invocation';
    try {
      postCtx.result = await invocModel.invokeFunction(context, preCtx.inputs, preCtx.functionCallback);
    } catch (err) {
      postCtx.error = err ?? new Error('The function threw a null or undefined value');
    } finally {
      coreCtx.state = undefined;
    }

    coreCtx.state = 'postInvocationHooks';
    try {
      await runHooks(registry, 'postInvocation', postCtx);
    } finally {
      coreCtx.state = undefined;
    }
    if (postCtx.error !== null && postCtx.error !== undefined) throw postCtx.error;
    return invocModel.getResponse(context, postCtx.result);
  }
}
