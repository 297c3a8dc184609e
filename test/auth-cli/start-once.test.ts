/**
 * Issue 8, "tried as a new user would": a source configured with each auth method collects from
 * the simulator with `npm start -- --once`. Each test writes a configuration file and runs
 * `node dist/local/cli.js --config <file> --once --port 0` as a child process (the command
 * `npm start` runs after its build), against the simulator running in this process and the suite's
 * Azurite (JobsStorage, with a unique MTC_TABLE_PREFIX and MTC_PAGE_QUEUE). Each run must exit 0
 * having forwarded rows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, GRAPH_PERMISSION, GRAPH_RESOURCE, type Simulator } from '../../simulator';
import { createSelfSignedCertificate } from '../../simulator/tls';
import { decodeJwt } from '../../simulator/jwt';
import { testStorage, uniqueName } from '../support/azurite';
import { trustSimulator } from '../auth/support';
import { CLI, MTC, rowsForwarded, runNode, startIdentityEndpoint, startProxiedKeyVault, type ChildResult, type FakeIdentityEndpoint, type ProxiedKeyVault } from './support';

const MI_CLIENT = '5b0e7c2a-9d41-4e8f-a3b6-1c2d3e4f5a6b';
const MI_SECRET = 'known-only-to-the-fake-identity-endpoint';
const RT_NAME = 'contoso-refresh-token';

let sim: Simulator;
let dir: string;
let caFile: string;
let storage: string;
let identity: FakeIdentityEndpoint;
let vault: ProxiedKeyVault;

before(async () => {
  sim = await startSimulator({ https: true, seed: 21, tenants: [{ rowsPerDay: 5_000 }] });
  trustSimulator(sim);
  const t = sim.tenants[0]!;
  // The function app's managed identity: a service principal in the tenant with the Graph permission.
  sim.entra.setApp(t.tenantId, { clientId: MI_CLIENT, clientSecret: MI_SECRET, appRoles: { [GRAPH_RESOURCE]: [GRAPH_PERMISSION] } });
  identity = await startIdentityEndpoint(sim, { clientId: MI_CLIENT, secret: MI_SECRET });
  vault = await startProxiedKeyVault('mtc-auth-cli');
  dir = await mkdtemp(path.join(tmpdir(), 'mtc-auth-cli-'));
  caFile = path.join(dir, 'trusted.pem');
  await writeFile(caFile, `${sim.caCertificatePem ?? ''}\n${vault.caPem}`);
  storage = await testStorage();
});

after(async () => {
  await sim?.stop();
  await identity?.close();
  await vault?.close();
});

/** Writes a configuration with one source using `auth`, collecting the last two hours into a folder. */
async function configFile(name: string, auth: Record<string, unknown>): Promise<{ file: string; outDir: string }> {
  const t = sim.tenants[0]!;
  const outDir = path.join(dir, `${name}-out`);
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({
    sources: [{
      id: 'contoso',
      tenantId: t.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth,
      start: '-2h@h',
      collectionDelay: '5m',
      sliceLength: '1h',
      destinations: ['local'],
    }],
    destinations: [{ id: 'local', type: 'file', directory: outDir }],
  }, null, 2));
  return { file, outDir };
}

/** The environment a user has: storage, trusted CAs, app settings, and in Azure the identity endpoint. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    JobsStorage: storage,
    MTC_TABLE_PREFIX: uniqueName('cli'),
    MTC_PAGE_QUEUE: uniqueName('cli-jobs'),
    NODE_EXTRA_CA_CERTS: caFile,
    IDENTITY_ENDPOINT: identity.endpoint,
    IDENTITY_HEADER: identity.header,
    HTTPS_PROXY: vault.proxyUrl,
    NO_PROXY: '127.0.0.1,localhost',
    ...extra,
  };
}

async function startOnce(file: string, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return runNode(CLI, ['--config', file, '--once', '--port', '0'], env);
}

function assertCollected(r: ChildResult, secretValues: string[] = []): number {
  const explain = `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  assert.equal(r.code, 0, explain);
  const forwarded = rowsForwarded(r.stdout).local ?? 0;
  assert.ok(forwarded > 0, `rows forwarded > 0\n${explain}`);
  for (const s of secretValues) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'a secret reached the output');
  return forwarded;
}

async function filesIn(outDir: string): Promise<number> {
  let lines = 0;
  for (const f of await readdir(outDir, { recursive: true })) {
    if (String(f).endsWith('.ndjson')) lines += (await readFile(path.join(outDir, String(f)), 'utf8')).split('\n').filter(Boolean).length;
  }
  return lines;
}

describe('npm start -- --once with each auth method', () => {
  it('collects with a client secret from an app setting', async () => {
    const t = sim.tenants[0]!;
    const { file } = await configFile('secret', { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:CONTOSO_SECRET' });
    assertCollected(await startOnce(file, childEnv({ CONTOSO_SECRET: t.clientSecret })), [t.clientSecret]);
  });

  it('collects with a certificate from a PEM file (assertion verified by the simulator)', async () => {
    const t = sim.tenants[0]!;
    const cert = await createSelfSignedCertificate({ hosts: ['collector.contoso.example'] });
    const app = sim.entra.getApp(t.tenantId, t.clientId)!;
    sim.entra.setApp(t.tenantId, { ...app, clientSecret: t.clientSecret, certificatePem: cert.certPem });
    const pem = path.join(dir, 'contoso.pem');
    await writeFile(pem, `${cert.certPem}\n${cert.keyPem}`);
    const { file, outDir } = await configFile('cert', { method: 'certificate', clientId: t.clientId, certificatePath: pem });
    const forwarded = assertCollected(await startOnce(file, childEnv()));
    assert.equal(await filesIn(outDir), forwarded, 'the files hold the rows the summary counts');
  });

  it('collects with the managed identity and no secret anywhere', async () => {
    const { file } = await configFile('mi', { method: 'managedIdentity' });
    const before = identity.requests.length;
    assertCollected(await startOnce(file, childEnv()));
    assert.ok(identity.requests.slice(before).some((r) => r.resource.startsWith(GRAPH_RESOURCE)), 'the token came from the identity endpoint');
  });

  it('collects as a multi-tenant app whose federated credential is the managed identity', async () => {
    const t = sim.tenants[0]!;
    // Entra setup: the app trusts the identity's tokens (issuer + subject) for api://AzureADTokenExchange.
    const r = await fetch(`${identity.endpoint}?api-version=2019-08-01&resource=${encodeURIComponent('api://AzureADTokenExchange')}`, { headers: { 'x-identity-header': identity.header } });
    const claims = decodeJwt(((await r.json()) as { access_token: string }).access_token).payload;
    sim.entra.setFederatedCredentials(t.tenantId, t.clientId, [{ issuer: String(claims.iss), subject: String(claims.sub) }]);
    const { file } = await configFile('federated', { method: 'federated', clientId: t.clientId });
    const before = identity.requests.length;
    assertCollected(await startOnce(file, childEnv()));
    assert.ok(identity.requests.slice(before).some((r) => r.resource === 'api://AzureADTokenExchange'));
  });

  it('collects with an authorization code redeemed through mtc diagnose, rotating the refresh token in Key Vault across restarts', async () => {
    const t = sim.tenants[0]!;
    const { file } = await configFile('authcode', {
      method: 'authorizationCode', clientId: t.clientId, clientSecretRef: 'env:CONTOSO_SECRET',
      refreshTokenRef: `kv:${vault.vaultUrl}/secrets/${RT_NAME}`, redirectUri: 'https://localhost',
    });
    const env = childEnv({ CONTOSO_SECRET: t.clientSecret, MTC_CONFIG_PATH: file });
    // The one-time sign-in: the administrator's code, redeemed with the diagnose command.
    const code = sim.entra.issueAuthorizationCode(t.tenantId, t.clientId, 'https://localhost', `${GRAPH_RESOURCE}/.default offline_access`);
    const redeemed = await runNode(MTC, ['diagnose', 'contoso', '--auth-code', code], env);
    assert.equal(redeemed.code, 0, `${redeemed.stdout}\n${redeemed.stderr}`);
    assert.match(redeemed.stdout, /refresh token stored in Key Vault/);
    assert.ok(!redeemed.stdout.includes(code), 'the code is not echoed');
    const stored = vault.versions(RT_NAME).length;
    assert.ok(stored >= 1);

    assertCollected(await startOnce(file, env), [t.clientSecret, ...vault.versions(RT_NAME).map((v) => v.value)]);
    const afterFirst = vault.versions(RT_NAME).length;
    assert.ok(afterFirst > stored, 'the run rotated the refresh token and wrote the new one to Key Vault');
    // A restart reads the newest version (the simulator refuses a redeemed refresh token).
    assertCollected(await startOnce(file, { ...env, MTC_TABLE_PREFIX: uniqueName('cli'), MTC_PAGE_QUEUE: uniqueName('cli-jobs') }));
    assert.ok(vault.versions(RT_NAME).length > afterFirst);
    assert.ok(vault.authorized > 0, 'Key Vault was called with a bearer token after its challenge');
  });
});
