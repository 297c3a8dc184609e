/**
 * Secrets come from the environment or Key Vault, by reference, and live only in memory.
 * Key Vault values are cached (Key Vault's guidance) and re-read after an auth failure.
 * No secret value ever reaches a log line, an error text, a queue message or a table row.
 */
import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import type { SecretRef } from '../config-common/types';
import { thirdPartyConfig, firstPartyGeneric } from '../errors';

export function describeSecretRef(ref: SecretRef): string {
  return ref.kind === 'env' ? `env:${ref.name}` : `kv:${ref.vaultUrl.replace(/\/+$/, '')}/secrets/${ref.name}${ref.version ? `/${ref.version}` : ''}`;
}

export interface SecretSource {
  get(ref: SecretRef): Promise<string>;
  /** Forget a cached value (after the remote rejected it), so the next get re-reads it. */
  invalidate(ref: SecretRef): void;
  /**
   * Writes a new version of a Key Vault secret (rotated refresh tokens) and caches it. Optional:
   * sources that cannot write leave it out, and the authorizationCode method then fails with a
   * clear error.
   */
  put?(ref: Extract<SecretRef, { kind: 'keyVault' }>, value: string): Promise<void>;
}

export type KeyVaultRef = Extract<SecretRef, { kind: 'keyVault' }>;

interface CacheEntry { value: Promise<string>; fetchedAt: number }

export class DefaultSecretSource implements SecretSource {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly clients = new Map<string, SecretClient>();
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly options: { ttlMs?: number; keyVaultClient?: (vaultUrl: string) => SecretClient } = {},
  ) {}

  async get(ref: SecretRef): Promise<string> {
    if (ref.kind === 'env') {
      const value = this.env[ref.name];
      if (value === undefined || value === '') {
        throw thirdPartyConfig(`The secret reference env:${ref.name} points to an environment variable that is not set.`, {
          code: 'SecretNotFound',
          fix: `Set the app setting / environment variable ${ref.name} to the secret value, or change the reference.`,
        });
      }
      return value;
    }
    const key = describeSecretRef(ref);
    const ttl = this.options.ttlMs ?? 15 * 60_000;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.fetchedAt < ttl) return hit.value;
    const value = this.readKeyVault(ref);
    this.cache.set(key, { value, fetchedAt: Date.now() });
    value.catch(() => this.cache.delete(key));
    return value;
  }

  invalidate(ref: SecretRef): void {
    this.cache.delete(describeSecretRef(ref));
  }

  async put(ref: KeyVaultRef, value: string): Promise<void> {
    const name = describeSecretRef({ ...ref, version: undefined });
    try {
      await this.clientFor(ref.vaultUrl).setSecret(ref.name, value, { contentType: 'text/plain' });
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 401 || status === 403) {
        throw thirdPartyConfig(`Key Vault denied writing ${name} (${status}).`, {
          code: 'KeyVaultWriteDenied', statusCode: status,
          fix: 'Grant the function app\'s managed identity the "Key Vault Secrets Officer" role on the vault (writing new secret versions needs more than "Key Vault Secrets User").',
        });
      }
      throw firstPartyGeneric(`Writing ${name} to Key Vault failed.`, { code: 'KeyVaultUnavailable', ...(status ? { statusCode: status } : {}) });
    }
    this.cache.set(name, { value: Promise.resolve(value), fetchedAt: Date.now() });
  }

  private clientFor(vaultUrl: string): SecretClient {
    let client = this.clients.get(vaultUrl);
    if (!client) {
      client = this.options.keyVaultClient?.(vaultUrl) ?? new SecretClient(vaultUrl, new DefaultAzureCredential());
      this.clients.set(vaultUrl, client);
    }
    return client;
  }

  private async readKeyVault(ref: KeyVaultRef): Promise<string> {
    const client = this.clientFor(ref.vaultUrl);
    try {
      const secret = await client.getSecret(ref.name, ref.version ? { version: ref.version } : {});
      if (!secret.value) throw Object.assign(new Error('empty secret'), { statusCode: 404 });
      return secret.value;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      const name = describeSecretRef(ref);
      if (status === 404) {
        throw thirdPartyConfig(`Key Vault has no secret for the reference ${name}.`, { code: 'SecretNotFound', statusCode: 404, fix: `Create the secret in Key Vault or fix the reference.` });
      }
      if (status === 401 || status === 403) {
        throw thirdPartyConfig(`Key Vault denied reading ${name} (${status}).`, {
          code: 'KeyVaultAccessDenied', statusCode: status,
          fix: 'Grant the function app\'s managed identity the "Key Vault Secrets User" role on the vault.',
        });
      }
      throw firstPartyGeneric(`Reading ${name} from Key Vault failed.`, { code: 'KeyVaultUnavailable', ...(status ? { statusCode: status } : {}) });
    }
  }
}
