/**
 * Test doubles for the auth tests: a loopback Key Vault (secret versions, the 401 bearer challenge;
 * reference azure-functions.md 4.3), an App Service managed identity endpoint that gets its tokens
 * from the simulator's Entra as the identity's own service principal, and helpers to trust the
 * simulator and build a source from a config document.
 */
import http from 'node:http';
import https from 'node:https';
import { createSelfSignedCertificate } from '../../simulator/tls';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { SecretClient } from '@azure/keyvault-secrets';
import { DefaultSecretSource } from '../../shared/auth/secrets';
import { parseConfig } from '../../shared/components';
import type { SourceConfig } from '../../shared/components';
import type { Simulator } from '../../simulator';

export const VAULT_URL = 'https://mtc-test.vault.azure.net';

let trusted = new Set<string>();
function trust(pem: string): void {
  if (trusted.has(pem)) return;
  trusted = new Set([...trusted, pem]);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...trusted]);
}
export function trustSimulator(sim: Simulator): void {
  if (sim.caCertificatePem) trust(sim.caCertificatePem);
}

/** A source parsed from a config document, as a user would write it (endpoints point at the simulator). */
export function sourceFrom(sim: Simulator, extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): SourceConfig {
  const doc = {
    sources: [{
      id: 'contoso',
      tenantId: sim.tenants[0]!.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      destinations: ['siem'],
      ...extra,
    }],
    destinations: [{ id: 'siem', type: 'file', directory: './out' }],
  };
  return parseConfig(doc, { env: { KEY_VAULT_URI: VAULT_URL, ...env } }).config.sources[0]!;
}

interface Version { version: string; value: string; created: number }

export interface FakeKeyVault {
  url: string;
  versions(name: string): Version[];
  /** A SecretSource reading and writing this vault (a new one per "process start"). */
  secretSource(env?: NodeJS.ProcessEnv): DefaultSecretSource;
  /** Makes the next `n` writes fail with 503. */
  failWrites(n: number): void;
  close(): Promise<void>;
}

export async function startFakeKeyVault(): Promise<FakeKeyVault> {
  const secrets = new Map<string, Version[]>();
  let failing = 0;
  let counter = 0;
  // @azure/keyvault-secrets 4.12 refuses plain http for bearer tokens, so the fake serves https.
  // Its own subject name: two trusted self-signed certificates with one name confuse the issuer lookup.
  const cert = await createSelfSignedCertificate({ hosts: ['fake-key-vault.localhost', '127.0.0.1'] });
  trust(cert.certPem);
  const server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"' });
        return res.end();
      }
      const url = new URL(req.url ?? '/', base);
      const [, kind, name, version] = url.pathname.replace(/\/+$/, '').split('/');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (kind !== 'secrets' || !name) return send(404, { error: { code: 'NotFound', message: 'no route' } });
      const list = secrets.get(name) ?? [];
      const view = (v: Version) => ({ value: v.value, id: `${base}/secrets/${name}/${v.version}`, attributes: { enabled: true, created: v.created, updated: v.created } });
      if (req.method === 'GET') {
        const v = version ? list.find((x) => x.version === version) : list[list.length - 1];
        if (!v) return send(404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name} was not found in this key vault.` } });
        return send(200, view(v));
      }
      if (req.method === 'PUT') {
        if (failing > 0) {
          failing--;
          return send(503, { error: { code: 'ServiceUnavailable', message: 'try later' } });
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { value?: string };
        const v = { version: (++counter).toString(16).padStart(32, '0'), value: String(body.value), created: Math.floor(Date.now() / 1000) };
        secrets.set(name, [...list, v]);
        return send(200, view(v));
      }
      return send(405, { error: { code: 'MethodNotAllowed', message: 'no' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const credential = { getToken: async () => ({ token: 'fake-kv-token', expiresOnTimestamp: Date.now() + 3600_000 }) };
  return {
    url,
    versions: (name) => [...(secrets.get(name) ?? [])],
    secretSource: (env = {}) => new DefaultSecretSource(env, {
      keyVaultClient: () => new SecretClient(url, credential, { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } }),
    }),
    failWrites: (n) => { failing = n; },
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

export interface FakeManagedIdentity {
  endpoint: string;
  header: string;
  requests: { resource: string; clientId?: string }[];
  close(): Promise<void>;
}

/**
 * An App Service managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER, api-version
 * 2019-08-01). Each identity is an app registered in the simulator's tenant; its token comes from
 * the simulator's token endpoint, so Graph and Entra accept it as they would an IMDS token.
 */
export async function startFakeManagedIdentity(
  sim: Simulator,
  identities: { clientId: string; secret: string; default?: boolean }[],
  opts: { opaqueKeyVaultTokens?: boolean } = {},
): Promise<FakeManagedIdentity> {
  const header = 'fake-identity-header';
  const requests: FakeManagedIdentity['requests'] = [];
  const tenantId = sim.tenants[0]!.tenantId;
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers['x-identity-header'] !== header) return send(401, { error: 'missing X-IDENTITY-HEADER' });
      const resource = url.searchParams.get('resource') ?? '';
      const clientId = url.searchParams.get('client_id') ?? undefined;
      requests.push({ resource, ...(clientId ? { clientId } : {}) });
      const identity = clientId ? identities.find((i) => i.clientId === clientId) : identities.find((i) => i.default);
      if (!identity) return send(400, { statusCode: 400, message: 'No managed identity found for the specified ClientId/ResourceId/PrincipalId.' });
      // A fake Key Vault only checks that a token is sent: with opaqueKeyVaultTokens its token is not a simulator token.
      if (opts.opaqueKeyVaultTokens && resource.replace(/\/+$/, '') === 'https://vault.azure.net') {
        return send(200, { access_token: 'opaque-key-vault-token', expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource, token_type: 'Bearer', client_id: identity.clientId });
      }
      const r = await fetch(`${sim.authorityHost}/${tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: identity.clientId, client_secret: identity.secret, scope: `${resource.replace(/\/+$/, '')}/.default` }),
      });
      const t = (await r.json()) as { access_token?: string; expires_in?: number };
      if (!t.access_token) return send(400, { statusCode: 400, message: 'token request failed' });
      send(200, { access_token: t.access_token, expires_on: String(Math.floor(Date.now() / 1000) + Number(t.expires_in ?? 3599)), resource, token_type: 'Bearer', client_id: identity.clientId });
    })().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`,
    header,
    requests,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
