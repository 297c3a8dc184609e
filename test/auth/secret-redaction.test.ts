/**
 * The client secret never leaves the process, even when the token endpoint repeats it: a
 * misconfigured proxy or authority in front of Entra answers the token request with 400 and the
 * request's own form fields (simulator faults echoForm / echoFormText). The error, the logs,
 * health, status and every ledger row must hold no trace of the secret; the positive controls
 * (the echo reached the error, redacted) show the secret WOULD be there without the redaction.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startSimulator, type Simulator } from '../../simulator';
import { SourceCredential } from '../../shared/auth/credentials';
import { GraphMessageTraceClient } from '../../shared/api/graph/client';
import { CollectorError } from '../../shared/errors';
import { sourceStatus } from '../../shared/status';
import type { Runtime } from '../../shared/runtime';
import type { SourceConfig } from '../../shared/components';
import { ManualClock } from '../../shared/time/clock';
import { createHarness, type Harness } from '../support/worker-harness';
import { sourceFrom, startFakeKeyVault, type FakeKeyVault } from './support';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
let sim: Simulator;
let vault: FakeKeyVault;
let current: Harness | undefined;
const clock = new ManualClock(T0);

before(async () => {
  sim = await startSimulator({
    https: true,
    seed: 5,
    clock: { now: () => (current ? current.clock.now() : clock.now()), toRealMs: () => 0, sleep: async () => {}, describe: () => 'test' },
    tenants: [{ rowsPerDay: 2000 }],
  });
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), sim.caCertificatePem!]);
  vault = await startFakeKeyVault();
});

after(async () => {
  await sim?.stop();
  await vault?.close();
});

function secret(): string {
  return sim.tenants[0]!.clientSecret;
}

/** Every form a leak could take: the value, its URL encoding, and a distinctive part of it. */
function assertNoSecret(text: string, where: string): void {
  const s = secret();
  for (const needle of [s, encodeURIComponent(s), s.slice(-16)]) {
    assert.ok(!text.includes(needle), `${where} contains the client secret: …${text.slice(Math.max(0, text.indexOf(needle) - 80), text.indexOf(needle) + 40)}…`);
  }
}

function errorText(err: unknown): string {
  const e = err as CollectorError;
  return [e.message, e.fix ?? '', e.excerpt ?? '', JSON.stringify(e), String(e.stack ?? ''), JSON.stringify((e as { cause?: unknown }).cause ?? null)].join('\n');
}

async function readAPage(source: SourceConfig, credential: SourceCredential): Promise<unknown> {
  const client = new GraphMessageTraceClient({ graphBaseUrl: source.endpoints.graphBaseUrl, apiVersion: 'v1.0', scope: source.endpoints.graphScope, credential });
  return client.fetchPage({ kind: 'window', startMs: T0 - 3600_000, endMs: T0 - 60_000, top: 50 });
}

describe('a token endpoint that echoes the request body', () => {
  for (const kind of ['echoForm', 'echoFormText'] as const) {
    it(`client secret (${kind}): a token error that repeats the form never carries the secret`, async () => {
      sim.clearFaults();
      sim.addFault({ kind, match: { api: 'token' } });
      const source = sourceFrom(sim, { auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: 'env:SIM_SECRET' } }, { SIM_SECRET: secret() });
      const credential = new SourceCredential(source, vault.secretSource({ SIM_SECRET: secret() }), { clock });
      let caught: unknown;
      await readAPage(source, credential).catch((err: unknown) => (caught = err));
      sim.clearFaults();
      assert.ok(caught instanceof CollectorError, `a typed error: ${String(caught)}`);
      const text = errorText(caught);
      assertNoSecret(text, 'the error');
      // MSAL puts ~150 characters of its own text before a non-JSON body, so only the JSON echo
      // reaches the 160-character excerpt; there the control shows the secret would be there.
      if (kind === 'echoForm') assert.match(text, /client_secret=\*\*\*/, `the echo reached the error (control), redacted: ${caught.excerpt}`);
    });

    it(`authorization code (${kind}): redeeming a code through the echoing endpoint fails without the secret`, async () => {
      sim.clearFaults();
      sim.addFault({ kind, match: { api: 'token' } });
      const t = sim.tenants[0]!;
      const auth = { method: 'authorizationCode', clientId: t.clientId, clientSecretRef: 'env:SIM_SECRET', refreshTokenRef: 'kv:redaction-rt', redirectUri: 'https://localhost' };
      const source = sourceFrom(sim, { auth }, { SIM_SECRET: secret() });
      const credential = new SourceCredential(source, vault.secretSource({ SIM_SECRET: secret() }), { clock });
      const code = sim.entra.issueAuthorizationCode(t.tenantId, t.clientId, 'https://localhost', 'https://graph.microsoft.com/.default offline_access');
      let caught: unknown;
      await credential.redeemAuthorizationCode(code).catch((err: unknown) => (caught = err));
      sim.clearFaults();
      assert.ok(caught instanceof CollectorError, `a typed error: ${String(caught)}`);
      const text = errorText(caught);
      assertNoSecret(text, 'the error');
      assert.ok(!text.includes(code), 'nor the authorization code');
      assert.match(text, /client_secret=\*\*\*/, `the echo reached the error (control), redacted: ${caught.excerpt}`);
    });
  }

  it('a collection run against the echoing endpoint leaves no secret in logs, health, status, slices or telemetry', async () => {
    sim.clearFaults();
    const t = sim.tenants[0]!;
    const doc = {
      sources: [{
        id: 'echoed',
        tenantId: t.tenantId,
        endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
        auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:SIM_SECRET' },
        start: new Date(T0 - 2 * 3600_000).toISOString(),
        collectionDelay: '10m',
        sliceLength: '1h',
        destinations: ['out'],
      }],
      destinations: [{ id: 'out', type: 'file', directory: './out/redaction-test' }],
    };
    const h = await createHarness({ doc, env: { SIM_SECRET: secret() }, startAt: T0 });
    current = h;
    try {
      // The planner gets a token; then Graph calls the token expired and the renewal meets the echo.
      await h.plan();
      sim.addFault({ kind: 'expiredToken', match: { api: 'graph' } });
      sim.addFault({ kind: 'echoForm', match: { api: 'token' } });
      await h.drain({ maxJobs: 12, maxDequeue: 5 });
      const health = await h.ledger.getHealth('echoed');
      const slices: unknown[] = [];
      for await (const s of h.ledger.listSlices('echoed')) slices.push(s);
      const status = await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!);
      const logs = h.log.text();
      const stored = JSON.stringify({ health, slices, status });
      assertNoSecret(logs, 'the log');
      assertNoSecret(stored, 'health, slices or status');
      assertNoSecret(JSON.stringify(h.telemetry), 'telemetry');
      // Control: the token failure was recorded, with the echoed (redacted) form.
      assert.match(logs + stored, /client_secret=\*\*\*/, 'the echoed form reached the log or the ledger');
    } finally {
      sim.clearFaults();
      current = undefined;
    }
  });
});
