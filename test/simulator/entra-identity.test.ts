/**
 * End to end with the real clients: @azure/identity (MSAL Node underneath) against the simulator
 * as a custom authority host over https with the simulator's self-signed certificate.
 *
 * Trusting the certificate: MSAL requires an https authority, and the credential's HTTP client
 * must trust the simulator's certificate. Two ways work (both proven below):
 * 1. Per credential: `agent: new https.Agent({ ca: [certPem] })` in the credential options.
 *    @azure/identity spreads its options into its core-rest-pipeline client, whose agentPolicy
 *    uses that agent for the token and discovery requests. Nothing global changes.
 * 2. Process-wide (Node >= 22.19): `tls.setDefaultCACertificates([...tls.getCACertificates('default'), certPem])`
 *    before the first request; every later TLS connection (https, fetch, got) trusts it.
 * NODE_EXTRA_CA_CERTS also works but is read only at process start.
 *
 * Time: MSAL stamps client assertions and judges its token cache on Date.now(). The caching test
 * mocks Date (node:test mock.timers) and keeps the simulator's ManualClock on the same instant,
 * so "the clock passes expiry" means the same thing to both.
 */
import { test, describe, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ClientCertificateCredential, ClientSecretCredential, type ClientCertificateCredentialOptions } from '@azure/identity';
import { ManualClock, type Clock } from '../../shared/time/clock';
import { EntraSimulator } from '../../simulator/entra';
import { createSelfSignedCertificate } from '../../simulator/tls';

const TID = '3c9e8f10-5555-4a2b-9c3d-0123456789ab';
const APP = '1d2e3f40-eeee-4bbb-8ccc-555555555555';
const SECRET = 'identity~Secret.value-77';
const GRAPH = 'https://graph.microsoft.com';
const EXO = 'https://outlook.office365.com';

interface HttpsHarness {
  sim: EntraSimulator;
  base: string;
  certPem: string;
  agent: https.Agent;
  close(): Promise<void>;
}

let serverCert: { keyPem: string; certPem: string };
let clientCert: { keyPem: string; certPem: string };

async function startHttps(clock: Clock, tokenLifetimeSec?: number): Promise<HttpsHarness> {
  const sim = new EntraSimulator({
    clock,
    tokenLifetimeSec,
    tenants: [{
      tenantId: TID,
      apps: [{
        clientId: APP,
        clientSecret: SECRET,
        certificatePem: clientCert.certPem,
        appRoles: { [GRAPH]: ['ExchangeMessageTrace.Read.All'], [EXO]: ['ReportingWebService.Read.All'] },
      }],
    }],
  });
  const server = https.createServer({ key: serverCert.keyPem, cert: serverCert.certPem }, (req, res) => {
    void sim.handle(req, res, new URL(req.url ?? '/', 'https://localhost')).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sim.setBaseUrl(base);
  const agent = new https.Agent({ ca: [serverCert.certPem] });
  return {
    sim,
    base,
    certPem: serverCert.certPem,
    agent,
    close: () => {
      agent.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

before(async () => {
  serverCert = await createSelfSignedCertificate();
  clientCert = await createSelfSignedCertificate({ hosts: ['collector.client.example'], days: 2 });
});

describe('@azure/identity against the simulator', () => {
  let h: HttpsHarness;
  let dir: string;
  before(async () => {
    h = await startHttps(new ManualClock(Date.now()));
    dir = await mkdtemp(path.join(tmpdir(), 'mtc-entra-'));
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('ClientSecretCredential gets a Graph token whose claims verifyAccessToken accepts', async () => {
    const cred = new ClientSecretCredential(TID, APP, SECRET, { authorityHost: h.base, disableInstanceDiscovery: true, agent: h.agent });
    const token = await cred.getToken(`${GRAPH}/.default`);
    const check = h.sim.verifyAccessToken(`Bearer ${token.token}`, GRAPH);
    assert.equal(check.ok, true);
    if (check.ok) {
      assert.equal(check.claims.tid, TID);
      assert.equal(check.claims.appid, APP);
      assert.deepEqual(check.claims.roles, ['ExchangeMessageTrace.Read.All']);
      assert.equal(check.claims.iss, `${h.base}/${TID}/v2.0`);
    }
  });

  test('ClientCertificateCredential works with the PEM as a string or a file, with sendCertificateChain off and on', async () => {
    const pem = `${clientCert.certPem}\n${clientCert.keyPem}`;
    const file = path.join(dir, 'client.pem');
    await writeFile(file, pem, { mode: 0o600 });
    const forms: [string, (o: ClientCertificateCredentialOptions) => ClientCertificateCredential][] = [
      ['certificate', (o) => new ClientCertificateCredential(TID, APP, { certificate: pem }, o)],
      ['certificatePath', (o) => new ClientCertificateCredential(TID, APP, { certificatePath: file }, o)],
    ];
    for (const [form, make] of forms) {
      for (const sendCertificateChain of [false, true]) {
        const cred = make({ authorityHost: h.base, disableInstanceDiscovery: true, agent: h.agent, sendCertificateChain });
        const token = await cred.getToken(`${EXO}/.default`);
        const check = h.sim.verifyAccessToken(`Bearer ${token.token}`, `${EXO}/`);
        assert.equal(check.ok, true, `${form} sendCertificateChain=${sendCertificateChain}`);
        if (check.ok) assert.deepEqual(check.claims.roles, ['ReportingWebService.Read.All']);
      }
    }
  });

  test('a wrong secret surfaces as an authentication error carrying AADSTS7000215 and not the secret', async () => {
    const wrong = 'wrong~identity.secret-00';
    const cred = new ClientSecretCredential(TID, APP, wrong, { authorityHost: h.base, disableInstanceDiscovery: true, agent: h.agent });
    await assert.rejects(cred.getToken(`${GRAPH}/.default`), (err: Error) => {
      assert.match(err.message, /AADSTS7000215/);
      assert.equal(err.message.includes(wrong), false);
      return true;
    });
  });

  test('the process-wide default CA list also makes the certificate trusted', async (t) => {
    if (typeof tls.setDefaultCACertificates !== 'function') return t.skip('needs Node >= 22.19');
    const original = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...original, h.certPem]);
    try {
      const cred = new ClientSecretCredential(TID, APP, SECRET, { authorityHost: h.base, disableInstanceDiscovery: true });
      const token = await cred.getToken(`${GRAPH}/.default`);
      assert.equal(h.sim.verifyAccessToken(`Bearer ${token.token}`, GRAPH).ok, true);
    } finally {
      tls.setDefaultCACertificates(original);
    }
  });
});

describe('token caching by @azure/identity', () => {
  test('getToken twice uses the cached token, and after the clock passes expiry a new one is fetched', async () => {
    const start = Date.now();
    const clock = new ManualClock(start);
    const lifetimeSec = 900; // above MSAL's 300 s refresh offset, so a fresh token is cached
    const h = await startHttps(clock, lifetimeSec);
    mock.timers.enable({ apis: ['Date'], now: start });
    try {
      const cred = new ClientSecretCredential(TID, APP, SECRET, { authorityHost: h.base, disableInstanceDiscovery: true, agent: h.agent });
      const first = await cred.getToken(`${GRAPH}/.default`);
      const second = await cred.getToken(`${GRAPH}/.default`);
      assert.equal(second.token, first.token);
      assert.equal(h.sim.stats().byTenant[TID]?.byGrant.client_credentials, 1);

      const advance = (ms: number) => {
        clock.advance(ms);
        mock.timers.setTime(clock.now());
      };
      advance(lifetimeSec * 1000);
      assert.equal(h.sim.verifyAccessToken(`Bearer ${first.token}`, GRAPH).ok, false, 'the old token is expired on the clock');
      const third = await cred.getToken(`${GRAPH}/.default`);
      assert.notEqual(third.token, first.token);
      assert.equal(h.sim.stats().byTenant[TID]?.byGrant.client_credentials, 2);
      assert.equal(h.sim.verifyAccessToken(`Bearer ${third.token}`, GRAPH).ok, true);
    } finally {
      mock.timers.reset();
      await h.close();
    }
  });
});
