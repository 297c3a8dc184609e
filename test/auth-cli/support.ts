/**
 * Helpers for the `npm start -- --once` auth tests: the collector runs as a child process, as a
 * new user would run it, against a simulator in the test process. Everything it talks to is
 * reached through standard environment variables only:
 * - the simulator's self-signed CA: NODE_EXTRA_CA_CERTS;
 * - a managed identity: IDENTITY_ENDPOINT / IDENTITY_HEADER (the App Service identity endpoint);
 * - Key Vault: a fake vault serving `https://<vault>.vault.azure.net` reached through HTTPS_PROXY
 *   (a CONNECT proxy that tunnels to the fake), so the real SecretClient, its bearer challenge
 *   (resource https://vault.azure.net) and DefaultAzureCredential run unchanged; NO_PROXY keeps the
 *   simulator and the identity endpoint direct.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createSelfSignedCertificate } from '../../simulator/tls';
import { startFakeManagedIdentity, type FakeManagedIdentity } from '../auth/support';
import type { Simulator } from '../../simulator';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'local', 'cli.js');
/** The `mtc` command line (package.json bin). */
export const MTC = path.join(REPO, 'dist', 'cli', 'mtc.js');

export interface ChildResult { code: number | null; stdout: string; stderr: string }

/** Runs a node script as a child process with exactly `env` (plus PATH) and collects its output. */
export function runNode(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: REPO, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The `rows forwarded` of each destination in the `--once` summary. */
export function rowsForwarded(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stdout.matchAll(/destination (\S+): rows forwarded (\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

interface Version { version: string; value: string }

export interface ProxiedKeyVault {
  /** https://<name>.vault.azure.net */
  vaultUrl: string;
  /** HTTPS_PROXY for the child. */
  proxyUrl: string;
  /** The vault's certificate, to add to NODE_EXTRA_CA_CERTS. */
  caPem: string;
  versions(name: string): Version[];
  /** Requests that carried a bearer token (after the 401 challenge). */
  authorized: number;
  close(): Promise<void>;
}

/** A Key Vault (secret versions, the 401 bearer challenge) behind a CONNECT proxy. */
export async function startProxiedKeyVault(vaultName: string): Promise<ProxiedKeyVault> {
  const host = `${vaultName}.vault.azure.net`;
  const cert = await createSelfSignedCertificate({ hosts: [host] });
  const secrets = new Map<string, Version[]>();
  let counter = 0;
  const state = { authorized: 0 };
  const vault = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
        res.writeHead(401, { 'www-authenticate': 'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"' });
        return res.end();
      }
      state.authorized++;
      const url = new URL(req.url ?? '/', `https://${host}`);
      const [, kind, name, version] = url.pathname.replace(/\/+$/, '').split('/');
      if (kind !== 'secrets' || !name) return send(404, { error: { code: 'NotFound', message: 'no route' } });
      const list = secrets.get(name) ?? [];
      const view = (v: Version) => ({ value: v.value, id: `https://${host}/secrets/${name}/${v.version}`, attributes: { enabled: true } });
      if (req.method === 'GET') {
        const v = version ? list.find((x) => x.version === version) : list[list.length - 1];
        if (!v) return send(404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name} was not found in this key vault.` } });
        return send(200, view(v));
      }
      if (req.method === 'PUT') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { value?: string };
        const v = { version: (++counter).toString(16).padStart(32, '0'), value: String(body.value) };
        secrets.set(name, [...list, v]);
        return send(200, view(v));
      }
      return send(405, { error: { code: 'MethodNotAllowed', message: 'no' } });
    });
  });
  await new Promise<void>((r) => vault.listen(0, '127.0.0.1', r));
  const vaultPort = (vault.address() as AddressInfo).port;

  // A CONNECT proxy that only tunnels to the fake vault.
  const sockets = new Set<net.Socket>();
  const proxy = http.createServer((_req, res) => { res.writeHead(405); res.end(); });
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (!(req.url ?? '').toLowerCase().startsWith(`${host}:`)) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = net.connect(vaultPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    vaultUrl: `https://${host}`,
    proxyUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    caPem: cert.certPem,
    versions: (name) => [...(secrets.get(name) ?? [])],
    get authorized() { return state.authorized; },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => { proxy.close(() => r()); proxy.closeAllConnections(); });
      await new Promise<void>((r) => { vault.close(() => r()); vault.closeAllConnections(); });
    },
  };
}

export type FakeIdentityEndpoint = FakeManagedIdentity;

/**
 * The App Service managed identity endpoint (api-version 2019-08-01) for one identity: tokens for
 * Key Vault are opaque (the fake vault only checks that one is sent); every other resource comes
 * from the simulator's token endpoint as the identity's own app, so Graph and Entra verify it.
 */
export function startIdentityEndpoint(sim: Simulator, identity: { clientId: string; secret: string }): Promise<FakeIdentityEndpoint> {
  return startFakeManagedIdentity(sim, [{ ...identity, default: true }], { opaqueKeyVaultTokens: true });
}
