/**
 * Preflight diagnostics run when a source is added or its configuration changes (issue 8): each
 * recorded state produced by a simulator scenario, the health row in real Azurite, one probe per
 * configuration change, charged to the tenant budget.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startSimulator, type Simulator } from '../../simulator';
import { createSourceClients } from '../../shared/api/clients';
import { canPreflight, preflightIfChanged, readPreflight, type PreflightRuntime } from '../../shared/diagnostics/preflight';
import type { SecretSource } from '../../shared/auth/secrets';
import type { SourceConfig } from '../../shared/components';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { MemoryLogger } from '../../shared/log';
import { MemoryTelemetry, EVENTS } from '../../shared/telemetry';
import { ManualClock } from '../../shared/time/clock';
import { sourceFrom, trustSimulator } from '../auth/support';
import { testStorage, uniqueName } from '../support/azurite';

const clock = new ManualClock(Date.now());
let sim: Simulator;
let ledger: Ledger;
let charges: { tenant: string; priority: string; count: number }[];
let telemetry: MemoryTelemetry;
let log: MemoryLogger;
const clients = new Map<string, ReturnType<typeof createSourceClients>>();

const secrets: SecretSource = { get: async () => sim.tenants[0]!.clientSecret, invalidate: () => {} };

before(async () => {
  sim = await startSimulator({ https: true, clock, seed: 11, tenants: [{ rowsPerDay: 5_000 }] });
  trustSimulator(sim);
});
after(async () => sim?.stop());

beforeEach(async () => {
  const storage = storageFromEnvironment({ JobsStorage: await testStorage() });
  ledger = new Ledger(storage, uniqueName('pf'));
  await storage.ensure(ledger.tableNames(), [], []);
  charges = [];
  telemetry = new MemoryTelemetry();
  log = new MemoryLogger();
  clients.clear();
  sim.clearFaults();
  const t = sim.tenants[0]!;
  sim.setTenant(t.tenantId, { servicePrincipalProvisioned: true, graphPermissionGranted: true, rwsRoleAssigned: true });
});

function runtime(): PreflightRuntime {
  return {
    ledger, clock, log, telemetry,
    clientsFor(source) {
      const key = JSON.stringify(source);
      let c = clients.get(key);
      if (!c) clients.set(key, (c = createSourceClients(source, secrets, clock)));
      return c;
    },
    configHashOf: (source) => createHash('sha256').update(JSON.stringify(source)).digest('hex').slice(0, 16),
    budget: { charge: async (tenant, priority, count = 1) => { charges.push({ tenant, priority, count }); } },
  };
}

function source(extra: Record<string, unknown> = {}): SourceConfig {
  return sourceFrom(sim, { auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: 'env:SIM_SECRET' }, ...extra });
}

const listRequests = () => sim.stats(sim.tenants[0]!.tenantId).listRequests;

describe('preflight when a source is added or changed', () => {
  it('records Authenticated for a working source, with one probe charged to the tenant budget', async () => {
    const rt = runtime();
    const s = source();
    const before = listRequests();
    const d = await preflightIfChanged(rt, s);
    assert.equal(d?.state, 'Collecting');
    const health = await ledger.getHealth(s.id);
    assert.equal(health?.state, 'Authenticated');
    assert.equal(health?.configHash, rt.configHashOf(s));
    assert.equal(listRequests() - before, 1, 'exactly one probe request');
    assert.deepEqual(charges, [{ tenant: s.tenantId, priority: 'live', count: 1 }]);
    assert.ok(telemetry.events.some((e) => e.name === EVENTS.health && e.properties.state === 'Authenticated'));
  });

  it('does nothing while the configuration is unchanged, and runs again when it changes', async () => {
    const rt = runtime();
    const s = source();
    assert.ok(await preflightIfChanged(rt, s));
    const before = listRequests();
    assert.equal(await preflightIfChanged(rt, s), undefined);
    assert.equal(await preflightIfChanged(rt, s), undefined);
    assert.equal(listRequests(), before, 'no request for an unchanged configuration');
    const changed = source({ fields: { customer: 'contoso' } });
    const d = await preflightIfChanged(rt, changed);
    assert.equal(d?.state, 'Collecting');
    assert.equal((await readPreflight(ledger, s.id))?.hash, rt.configHashOf(changed));
    assert.equal(charges.length, 2);
  });

  it('records Error with the fix for a missing service principal, stops the source, and resumes by itself once it is provisioned', async () => {
    const rt = runtime();
    const s = source();
    const t = sim.tenants[0]!;
    sim.setTenant(t.tenantId, { servicePrincipalProvisioned: false });
    const d = await preflightIfChanged(rt, s, { recheckErrorMs: 30 * 60_000 });
    assert.equal(d?.code, 'MissingServicePrincipal');
    let health = await ledger.getHealth(s.id);
    assert.equal(health?.state, 'Error');
    // The same configHash is what makes the planner and the page worker stop spending requests.
    assert.equal(health?.configHash, rt.configHashOf(s));
    const err = JSON.parse(health!.lastError) as { code: string; fix: string; type: string };
    assert.equal(err.code, 'MissingServicePrincipal');
    assert.equal(err.type, 'ThirdPartyConfig');
    assert.match(err.fix, /az ad sp create --id/);
    assert.ok(log.lines.some((l) => l.level === 'error' && l.message.includes('Fix:')));

    // Not repeated before the re-check interval …
    clock.advance(10 * 60_000);
    assert.equal(await preflightIfChanged(rt, s, { recheckErrorMs: 30 * 60_000 }), undefined);
    // … and after it, once the service principal exists, the source is Authenticated again.
    sim.setTenant(t.tenantId, { servicePrincipalProvisioned: true });
    clock.advance(25 * 60_000);
    const again = await preflightIfChanged(rt, s, { recheckErrorMs: 30 * 60_000 });
    assert.equal(again?.state, 'Collecting');
    health = await ledger.getHealth(s.id);
    assert.equal(health?.state, 'Authenticated');
  });

  it('records Error for a missing permission without sending a probe or charging the budget', async () => {
    const rt = runtime();
    const s = source();
    sim.setTenant(sim.tenants[0]!.tenantId, { graphPermissionGranted: false });
    const before = listRequests();
    const d = await preflightIfChanged(rt, s);
    assert.equal(d?.code, 'MissingPermission');
    assert.equal((await ledger.getHealth(s.id))?.state, 'Error');
    assert.equal(listRequests(), before);
    assert.deepEqual(charges, []);
  });

  it('records Error for a wrong client secret, and the message never holds the secret', async () => {
    const rt = runtime();
    const s = source();
    const wrong: SecretSource = { get: async () => 'definitely-not-the-secret', invalidate: () => {} };
    rt.clientsFor = (src) => createSourceClients(src, wrong, clock);
    const d = await preflightIfChanged(rt, s);
    assert.equal(d?.code, 'WrongSecret');
    const health = await ledger.getHealth(s.id);
    assert.equal(health?.state, 'Error');
    assert.ok(!health!.lastError.includes('definitely-not-the-secret'));
    assert.ok(!log.text().includes('definitely-not-the-secret'));
  });

  it('keeps the state reached on a transient probe failure and runs again at the next call', async () => {
    const rt = runtime();
    const s = source();
    sim.addFault({ kind: '503', count: 1, match: { api: 'graph' } });
    const d = await preflightIfChanged(rt, s);
    assert.equal(d?.code, 'ProbeFailed');
    assert.equal((await ledger.getHealth(s.id))?.state, 'Authenticated', 'the token and permission checks passed');
    assert.equal((await readPreflight(ledger, s.id))?.hash, '', 'no hash recorded: the preflight is due again');
    const again = await preflightIfChanged(rt, s);
    assert.equal(again?.state, 'Collecting');
    assert.equal(charges.length, 2, 'both probes were charged');
  });

  it('records Pending for a disabled source without any request', async () => {
    const rt = runtime();
    const s = source({ enabled: false });
    const before = sim.stats(sim.tenants[0]!.tenantId).requests;
    const d = await preflightIfChanged(rt, s);
    assert.equal(d?.state, 'Pending');
    assert.equal((await ledger.getHealth(s.id))?.state, 'Pending');
    assert.equal(sim.stats(sim.tenants[0]!.tenantId).requests, before);
  });

  it('runs one preflight when several instances see the same change at once', async () => {
    const rt = runtime();
    const s = source();
    const before = listRequests();
    const results = await Promise.all([preflightIfChanged(rt, s), preflightIfChanged(rt, s), preflightIfChanged(rt, s)]);
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(listRequests() - before, 1);
  });

  it('knows which planner dependencies can run a preflight', () => {
    assert.equal(canPreflight(runtime()), true);
    assert.equal(canPreflight({ ledger, clock, configHashOf: () => 'h1' }), false);
  });
});
