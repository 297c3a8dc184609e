/**
 * Every auth method end to end against the simulator: the credential gets a token from the
 * simulated Entra ID (which verifies secrets, certificate assertions, rotated refresh tokens and
 * federated assertions) and the Graph client reads a page of message trace with it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, GRAPH_PERMISSION, GRAPH_RESOURCE, type Simulator } from '../../simulator';
import { createSelfSignedCertificate } from '../../simulator/tls';
import { decodeJwt } from '../../simulator/jwt';
import { SourceCredential } from '../../shared/auth/credentials';
import { GraphMessageTraceClient } from '../../shared/api/graph/client';
import { CollectorError } from '../../shared/errors';
import type { SourceConfig } from '../../shared/components';
import type { SecretSource } from '../../shared/auth/secrets';
import { ManualClock } from '../../shared/time/clock';
import { sourceFrom, startFakeKeyVault, startFakeManagedIdentity, trustSimulator, type FakeKeyVault, type FakeManagedIdentity } from './support';

const clock = new ManualClock(Date.now());
let sim: Simulator;
let vault: FakeKeyVault;
let msi: FakeManagedIdentity;
const MI_CLIENT = '7d3f0c1e-2a4b-4c5d-8e6f-0a1b2c3d4e5f';
const MI_SECRET = 'mi-only-known-to-the-fake-imds';

before(async () => {
  sim = await startSimulator({ https: true, clock, seed: 3, tenants: [{ rowsPerDay: 5_000 }] });
  trustSimulator(sim);
  vault = await startFakeKeyVault();
  const t = sim.tenants[0]!;
  // The Function's managed identity: a service principal in the same tenant with the Graph permission.
  sim.entra.setApp(t.tenantId, { clientId: MI_CLIENT, clientSecret: MI_SECRET, appRoles: { [GRAPH_RESOURCE]: [GRAPH_PERMISSION] } });
  msi = await startFakeManagedIdentity(sim, [{ clientId: MI_CLIENT, secret: MI_SECRET, default: true }]);
  process.env.IDENTITY_ENDPOINT = msi.endpoint;
  process.env.IDENTITY_HEADER = msi.header;
});

after(async () => {
  await sim?.stop();
  await vault?.close();
  await msi?.close();
  delete process.env.IDENTITY_ENDPOINT;
  delete process.env.IDENTITY_HEADER;
});

/** Reads the last hour through Graph with the source's credential; returns the row count. */
async function readAPage(source: SourceConfig, credential: SourceCredential): Promise<number> {
  const client = new GraphMessageTraceClient({ graphBaseUrl: source.endpoints.graphBaseUrl, apiVersion: 'v1.0', scope: source.endpoints.graphScope, credential });
  const page = await client.fetchPage({ kind: 'window', startMs: clock.now() - 3600_000, endMs: clock.now() - 60_000, top: 50 });
  return page.rows.length;
}

function memorySecrets(values: Record<string, string>): SecretSource {
  return {
    get: async (ref) => {
      const v = values[ref.name];
      if (v === undefined) throw new Error(`no secret ${ref.name}`);
      return v;
    },
    invalidate: () => {},
  };
}

async function registerCertificate(certPem: string): Promise<void> {
  const t = sim.tenants[0]!;
  const app = sim.entra.getApp(t.tenantId, t.clientId)!;
  sim.entra.setApp(t.tenantId, { ...app, clientSecret: t.clientSecret, certificatePem: certPem });
}

describe('client secret', () => {
  it('collects a page with a client secret from an app setting', async () => {
    const source = sourceFrom(sim, { auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: 'env:SIM_SECRET' } });
    const credential = new SourceCredential(source, memorySecrets({ SIM_SECRET: sim.tenants[0]!.clientSecret }), { clock });
    assert.ok((await readAPage(source, credential)) > 0);
  });
});

describe('certificate', () => {
  it('collects with a PEM from Key Vault, signing PS256 with x5t#S256 (verified by the simulator)', async () => {
    const cert = await createSelfSignedCertificate({ hosts: ['collector.contoso.example'] });
    await registerCertificate(cert.certPem);
    const source = sourceFrom(sim, { auth: { method: 'certificate', clientId: sim.tenants[0]!.clientId, certificateRef: 'kv:contoso-cert' } });
    const credential = new SourceCredential(source, memorySecrets({ 'contoso-cert': `${cert.keyPem}\n${cert.certPem}` }), { clock });
    assert.ok((await readAPage(source, credential)) > 0);
  });

  it('collects with a PEM file, signing RS256 with the SHA-1 x5t and sending the chain', async () => {
    const cert = await createSelfSignedCertificate({ hosts: ['collector.contoso.example'] });
    await registerCertificate(cert.certPem);
    const dir = await mkdtemp(path.join(tmpdir(), 'mtc-cert-'));
    const file = path.join(dir, 'contoso.pem');
    await writeFile(file, `${cert.certPem}\n${cert.keyPem}`);
    const source = sourceFrom(sim, { auth: { method: 'certificate', clientId: sim.tenants[0]!.clientId, certificatePath: file, thumbprint: 'sha1', sendCertificateChain: true } });
    assert.equal(source.auth.method === 'certificate' && source.auth.thumbprint, 'sha1');
    const credential = new SourceCredential(source, memorySecrets({}), { clock });
    assert.ok((await readAPage(source, credential)) > 0);
  });

  it('reports a certificate the app does not know as a ThirdPartyConfig error naming the assertion', async () => {
    const registered = await createSelfSignedCertificate({ hosts: ['a.example'] });
    const other = await createSelfSignedCertificate({ hosts: ['b.example'] });
    await registerCertificate(registered.certPem);
    const source = sourceFrom(sim, { auth: { method: 'certificate', clientId: sim.tenants[0]!.clientId, certificateRef: 'env:CERT' } });
    const credential = new SourceCredential(source, memorySecrets({ CERT: `${other.certPem}${other.keyPem}` }), { clock });
    await assert.rejects(readAPage(source, credential), (err: unknown) => err instanceof CollectorError && err.type === 'ThirdPartyConfig' && err.code === 'AADSTS700027');
  });

  it('explains a PFX or a PEM without a key instead of failing obscurely', async () => {
    const cert = await createSelfSignedCertificate({ hosts: ['a.example'] });
    for (const [text, pattern] of [['MIIKbQIBAzCCCicGCSqGSIb3DQEHAaCCChgEggoUMIIKEDCCBgcGCSqGSIb3', /PKCS#12/], [cert.certPem, /PRIVATE KEY block/]] as const) {
      const source = sourceFrom(sim, { auth: { method: 'certificate', clientId: sim.tenants[0]!.clientId, certificateRef: 'env:CERT' } });
      const credential = new SourceCredential(source, memorySecrets({ CERT: text }), { clock });
      await assert.rejects(readAPage(source, credential), (err: unknown) => err instanceof CollectorError && err.code === 'CertificateFormat' && pattern.test(err.message) && !err.message.includes('MIIKbQ'));
    }
  });
});

describe('authorization code with rotated refresh tokens', () => {
  const RT_NAME = 'contoso-refresh-token';
  const authFor = () => ({
    auth: {
      method: 'authorizationCode', clientId: sim.tenants[0]!.clientId, clientSecretRef: 'env:SIM_SECRET',
      refreshTokenRef: `kv:${RT_NAME}`, redirectUri: 'https://localhost',
    },
  });
  const env = () => ({ SIM_SECRET: sim.tenants[0]!.clientSecret });

  it('redeems the code once, rotates the refresh token on every refresh, and a restart resumes from the newest version', async () => {
    const t = sim.tenants[0]!;
    const source = sourceFrom(sim, authFor(), env());
    const code = sim.entra.issueAuthorizationCode(t.tenantId, t.clientId, 'https://localhost', `${GRAPH_RESOURCE}/.default offline_access`);
    const first = new SourceCredential(source, vault.secretSource(env()), { clock });
    await first.redeemAuthorizationCode(code);
    assert.equal(vault.versions(RT_NAME).length, 1, 'the first refresh token is stored');
    assert.ok((await readAPage(source, first)) > 0);

    // Restart: a new process reads the newest refresh token and rotates it.
    const second = new SourceCredential(source, vault.secretSource(env()), { clock });
    assert.ok((await readAPage(source, second)) > 0);
    const versions = vault.versions(RT_NAME);
    assert.ok(versions.length >= 2, 'the rotated refresh token was written as a new version');
    assert.notEqual(versions.at(-1)!.value, versions[0]!.value);

    // The simulator rejects a redeemed refresh token, so the restart only works from the newest one.
    const third = new SourceCredential(source, vault.secretSource(env()), { clock });
    assert.ok((await readAPage(source, third)) > 0);

    // Access tokens are reused until they near expiry; then the next refresh rotates again.
    const before = vault.versions(RT_NAME).length;
    assert.ok((await readAPage(source, third)) > 0);
    assert.equal(vault.versions(RT_NAME).length, before);
    clock.advance(3600_000);
    assert.ok((await readAPage(source, third)) > 0);
    assert.equal(vault.versions(RT_NAME).length, before + 1);
  });

  it('keeps a rotated refresh token that Key Vault failed to store and writes it before refreshing again', async () => {
    const source = sourceFrom(sim, authFor(), env());
    const credential = new SourceCredential(source, vault.secretSource(env()), { clock });
    const before = vault.versions(RT_NAME).length;
    vault.failWrites(1);
    await assert.rejects(readAPage(source, credential), (err: unknown) => err instanceof CollectorError && err.code === 'RefreshTokenNotSaved' && err.retryable);
    assert.equal(vault.versions(RT_NAME).length, before);
    assert.ok((await readAPage(source, credential)) > 0, 'the next call saves the pending token first and goes on');
    assert.equal(vault.versions(RT_NAME).length, before + 1);
    // A restart still finds a token that works.
    assert.ok((await readAPage(source, new SourceCredential(source, vault.secretSource(env()), { clock }))) > 0);
  });

  it('turns a revoked refresh token into a ThirdPartyConfig error that says how to sign in again', async () => {
    const t = sim.tenants[0]!;
    const source = sourceFrom(sim, authFor(), env());
    sim.entra.revokeRefreshTokens(t.tenantId, t.clientId);
    const credential = new SourceCredential(source, vault.secretSource(env()), { clock });
    await assert.rejects(readAPage(source, credential), (err: unknown) =>
      err instanceof CollectorError && err.type === 'ThirdPartyConfig' && /RefreshToken(Expired|Revoked)/.test(err.code) && /--auth-code/.test(err.fix ?? ''));
  });

  it('reports a missing refresh token with the sign-in steps', async () => {
    const source = sourceFrom(sim, { auth: { ...authFor().auth, refreshTokenRef: 'kv:never-stored' } }, env());
    const credential = new SourceCredential(source, vault.secretSource(env()), { clock });
    await assert.rejects(readAPage(source, credential), (err: unknown) => err instanceof CollectorError && err.code === 'RefreshTokenMissing' && /--auth-url/.test(err.fix ?? ''));
  });
});

describe('managed identity and federated credential', () => {
  it('collects with the function app\'s managed identity and no secret anywhere', async () => {
    const source = sourceFrom(sim, { auth: { method: 'managedIdentity' } });
    const credential = new SourceCredential(source, memorySecrets({}), { clock });
    assert.ok((await readAPage(source, credential)) > 0);
    assert.ok(msi.requests.some((r) => r.resource.startsWith(GRAPH_RESOURCE)));
  });

  it('collects as a multi-tenant app whose federated credential is the managed identity', async () => {
    const t = sim.tenants[0]!;
    // Entra setup: the app trusts the identity's tokens (issuer + subject) for api://AzureADTokenExchange.
    const probe = new SourceCredential(sourceFrom(sim, { auth: { method: 'managedIdentity' } }), memorySecrets({}), { clock });
    const miToken = (await probe.getToken('api://AzureADTokenExchange/.default'))!.token;
    const claims = decodeJwt(miToken).payload;
    sim.entra.setFederatedCredentials(t.tenantId, t.clientId, [{ issuer: String(claims.iss), subject: String(claims.sub) }]);

    const source = sourceFrom(sim, { auth: { method: 'federated', clientId: t.clientId } });
    assert.equal(source.auth.method === 'federated' && source.auth.audience, 'api://AzureADTokenExchange');
    const credential = new SourceCredential(source, memorySecrets({}), { clock });
    assert.ok((await readAPage(source, credential)) > 0);
    assert.ok(msi.requests.some((r) => r.resource === 'api://AzureADTokenExchange'));
  });

  it('fails when the app has no federated credential for the identity', async () => {
    const t = sim.tenants[0]!;
    sim.entra.setFederatedCredentials(t.tenantId, t.clientId, [{ issuer: 'https://login.microsoftonline.com/other/v2.0', subject: 'someone-else' }]);
    const source = sourceFrom(sim, { auth: { method: 'federated', clientId: t.clientId } });
    const credential = new SourceCredential(source, memorySecrets({}), { clock });
    await assert.rejects(readAPage(source, credential), (err: unknown) => err instanceof CollectorError && /AADSTS70021[1-3]/.test(`${err.code} ${err.message}`));
  });
});
