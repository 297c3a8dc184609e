/**
 * Binding resolution as the Functions host does it: `%NAME%` tokens in binding properties come from
 * app settings, and a `connection` names an app setting (or a family of `<name>__*` settings for an
 * identity-based connection) rather than holding the connection itself.
 */
import { DefaultAzureCredential } from '@azure/identity';
import { QueueServiceClient } from '@azure/storage-queue';
import type { RpcBindingInfo } from './core-api';

/** Replaces every `%NAME%` in `value` with app setting NAME. `where` names the binding property for errors. */
export function resolveAppSettingTokens(value: string, env: NodeJS.ProcessEnv, where: string): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') {
      throw new Error(`${where} refers to app setting %${name}%, which is not set; set ${name} in the app settings (env or local.settings.json)`);
    }
    return v;
  });
}

/** The binding with every string property (other than type/direction/name) resolved. */
export function resolveBinding(binding: RpcBindingInfo, env: NodeJS.ProcessEnv, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(binding)) {
    out[k] = typeof v === 'string' && k !== 'type' && k !== 'direction' && k !== 'name'
      ? resolveAppSettingTokens(v, env, `${where} property "${k}"`)
      : v;
  }
  return out;
}

/** Validates and normalises a storage queue name (the host lowercases names). */
export function normaliseQueueName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name === '') throw new Error(`${where}: queueName is required`);
  const n = name.toLowerCase();
  if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(n)) {
    throw new Error(`${where}: queue name "${name}" is invalid; use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`);
  }
  return n;
}

function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  if (direct) return direct;
  const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
  return key ? env[key] || undefined : undefined;
}

/**
 * The queue service for a binding's `connection` (app setting name; empty = AzureWebJobsStorage).
 * Accepts a connection string in `<connection>` (or `AzureWebJobs<connection>`), or an identity
 * connection `<connection>__queueServiceUri` / `__serviceUri` (+ optional `__clientId`) through
 * DefaultAzureCredential.
 */
export function queueServiceFor(connection: unknown, env: NodeJS.ProcessEnv, where: string): { client: QueueServiceClient; description: string } {
  if (connection !== undefined && typeof connection !== 'string') throw new Error(`${where}: connection must be an app setting name`);
  const name = connection || 'AzureWebJobsStorage';
  const cs = setting(env, name) ?? setting(env, `AzureWebJobs${name}`);
  if (cs) {
    if (cs.includes('@Microsoft.KeyVault(')) {
      throw new Error(`${where}: app setting ${name} is an unresolved Key Vault reference; locally, put the connection string itself in ${name}`);
    }
    try {
      return { client: QueueServiceClient.fromConnectionString(cs, { retryOptions: { maxTries: 2 } }), description: `connection string in ${name}` };
    } catch (err) {
      throw new Error(`${where}: app setting ${name} is not a valid storage connection string (${(err as Error).message.split('\n')[0]}); use "UseDevelopmentStorage=true" or an Azurite/Azure connection string`, { cause: err });
    }
  }
  const uri = setting(env, `${name}__queueServiceUri`) ?? setting(env, `${name}__serviceUri`);
  if (uri) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch (err) {
      throw new Error(`${where}: app setting ${name}__queueServiceUri must be a URL such as https://<account>.queue.core.windows.net, got "${uri}"`, { cause: err });
    }
    const clientId = setting(env, `${name}__clientId`);
    const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
    return { client: new QueueServiceClient(url.toString(), credential, { retryOptions: { maxTries: 2 } }), description: `identity connection ${name}__queueServiceUri (DefaultAzureCredential)` };
  }
  throw new Error(
    `${where}: connection "${name}" is not configured; set app setting ${name} to a storage connection string ` +
      `(locally "UseDevelopmentStorage=true" or the Azurite connection string), or ${name}__queueServiceUri for an identity-based connection`,
  );
}
