/**
 * Secret references in the configuration, and the rules that keep secrets out of it.
 *
 * A secret is never written inline. It is referenced:
 * - `env:NAME`: the environment variable (app setting) NAME, e.g. `env:CONTOSO_SECRET`;
 * - `kv:<name>`: the secret <name> in the Key Vault named by the app setting KEY_VAULT_URI;
 * - `kv:https://<vault>.vault.azure.net/secrets/<name>[/<version>]`: a secret in a given vault
 *   (also the sovereign suffixes vault.usgovcloudapi.net, vault.azure.cn, vault.microsoftazure.de).
 *
 * Messages produced here never contain the value they judged.
 */
import { isLoopbackHost } from './urls';
import type { SecretRef } from './types';

export const SECRET_REF_SYNTAX = '"env:NAME" (an app setting / environment variable), "kv:<secret-name>" (the Key Vault in KEY_VAULT_URI) or "kv:https://<vault>.vault.azure.net/secrets/<secret-name>"';

export const KEY_VAULT_SUFFIXES = ['vault.azure.net', 'vault.usgovcloudapi.net', 'vault.azure.cn', 'vault.microsoftazure.de'] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Key Vault object names: 1-127 letters, digits and dashes. */
const KV_SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** Key Vault names: 3-24 letters, digits and dashes, starting with a letter. */
const KV_VAULT_NAME = /^[A-Za-z][0-9A-Za-z-]{1,22}[0-9A-Za-z]$/;
const KV_VERSION = /^[0-9a-fA-F]{32}$/;

export type SecretRefResult = { ref: SecretRef } | { problem: string };

/**
 * Normalises a Key Vault URI (e.g. the KEY_VAULT_URI app setting) to `https://<vault>.<suffix>`
 * without a trailing slash, or says what is wrong with it.
 */
export function normaliseVaultUrl(value: string): { vaultUrl: string } | { problem: string } {
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    return { problem: 'is not a URL; it must look like https://<vault>.vault.azure.net' };
  }
  if (u.protocol !== 'https:') return { problem: 'must be an https URL like https://<vault>.vault.azure.net' };
  if (u.username || u.password || u.search || u.hash || u.pathname.replace(/\/+$/, '') !== '') {
    return { problem: 'must be just the vault address, like https://<vault>.vault.azure.net (no path, query or credentials)' };
  }
  const host = u.hostname.toLowerCase();
  if (!isLoopbackHost(host)) {
    const suffix = KEY_VAULT_SUFFIXES.find((s) => host.endsWith(`.${s}`));
    if (!suffix || !KV_VAULT_NAME.test(host.slice(0, -(suffix.length + 1)))) {
      return { problem: `must be a Key Vault address: https://<vault>.${KEY_VAULT_SUFFIXES[0]} (or ${KEY_VAULT_SUFFIXES.slice(1).join(', ')})` };
    }
  }
  return { vaultUrl: `https://${u.host.toLowerCase()}` };
}

/**
 * Parses a secret reference. `keyVaultUri` is the KEY_VAULT_URI app setting (needed by `kv:<name>`).
 * The returned problem never quotes the input (it may be a pasted secret).
 */
export function parseSecretRef(text: string, keyVaultUri: string | undefined): SecretRefResult {
  const value = text.trim();
  const notARef = `is not a secret reference. Secrets are never written inline in the configuration; store the secret in an app setting or Key Vault and reference it as ${SECRET_REF_SYNTAX}`;
  const colon = value.indexOf(':');
  const scheme = colon > 0 ? value.slice(0, colon).toLowerCase() : '';
  const rest = colon > 0 ? value.slice(colon + 1) : '';
  if (scheme === 'env') {
    if (!ENV_NAME.test(rest)) {
      return { problem: 'is an env: reference with an invalid variable name; write env:NAME where NAME has only letters, digits and underscores and does not start with a digit, e.g. "env:CONTOSO_SECRET"' };
    }
    return { ref: { kind: 'env', name: rest } };
  }
  if (scheme === 'kv') {
    if (/^https?:\/\//i.test(rest)) return parseVaultSecretUrl(rest);
    if (!KV_SECRET_NAME.test(rest)) {
      return { problem: 'is a kv: reference with an invalid secret name; Key Vault secret names have 1-127 letters, digits and dashes, e.g. "kv:siem-token", or use the full form "kv:https://<vault>.vault.azure.net/secrets/<name>"' };
    }
    if (keyVaultUri === undefined || keyVaultUri.trim() === '') {
      return {
        problem: `uses kv:<name>, which reads the Key Vault named by the app setting KEY_VAULT_URI, but KEY_VAULT_URI is not set; set KEY_VAULT_URI (e.g. https://<vault>.vault.azure.net) or write the full form "kv:https://<vault>.vault.azure.net/secrets/${rest}"`,
      };
    }
    const vault = normaliseVaultUrl(keyVaultUri);
    if ('problem' in vault) return { problem: `uses kv:<name>, which reads the Key Vault named by the app setting KEY_VAULT_URI, but KEY_VAULT_URI ${vault.problem}` };
    return { ref: { kind: 'keyVault', vaultUrl: vault.vaultUrl, name: rest } };
  }
  return { problem: notARef };
}

function parseVaultSecretUrl(text: string): SecretRefResult {
  const form = 'write it as "kv:https://<vault>.vault.azure.net/secrets/<name>" with an optional "/<version>" (32 hex characters)';
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { problem: `is a kv: reference with an invalid Key Vault URL; ${form}` };
  }
  const vault = normaliseVaultUrl(`${u.protocol}//${u.host}`);
  if ('problem' in vault) return { problem: `is a kv: reference whose vault address ${vault.problem}` };
  if (u.username || u.password || u.search || u.hash) return { problem: `is a kv: reference with a query, fragment or credentials in the URL; ${form}` };
  const parts = u.pathname.replace(/\/+$/, '').split('/').slice(1);
  if (parts[0] !== 'secrets' || parts.length < 2 || parts.length > 3 || !KV_SECRET_NAME.test(parts[1])) {
    return { problem: `is a kv: reference whose URL is not a secret URL; ${form}` };
  }
  if (parts.length === 3 && !KV_VERSION.test(parts[2])) {
    return { problem: `is a kv: reference with an invalid secret version (a version is 32 hex characters); ${form}` };
  }
  return { ref: { kind: 'keyVault', vaultUrl: vault.vaultUrl, name: parts[1], ...(parts[2] ? { version: parts[2].toLowerCase() } : {}) } };
}

/** Field names that hold a secret when written as a plain value (clientSecret, password, apiKey, token…). */
export function looksLikeSecretFieldName(name: string): boolean {
  return /(secret|password|passwd|pwd|token|api[-_]?key|credential|private[-_]?key|certificate)$/i.test(name) && !/ref$/i.test(name);
}

/** Header names that carry credentials (Authorization, X-API-Key, …-Token, Cookie, …). */
export function isCredentialHeaderName(name: string): boolean {
  return (
    /^(authorization|proxy-authorization|cookie|x-functions-key|ocp-apim-subscription-key)$/i.test(name) ||
    /(^|[-_])(api[-_]?key|key|token|secret|password|signature|auth|credentials?)$/i.test(name)
  );
}

/** Header values that are credentials by their shape (`Bearer …`, `Basic …`, `Splunk …`, `SharedAccessSignature …`). */
export function looksLikeCredentialValue(value: string): boolean {
  return /^\s*(bearer|basic|splunk|token|apikey|api-key|sharedaccesssignature|sas|digest|hmac|ssws|dsn|key)\s+\S/i.test(value);
}
