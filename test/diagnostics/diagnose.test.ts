/**
 * One scenario per preflight diagnosis, each produced by the simulator (or, where the simulator
 * cannot produce it, by the token endpoint's exact error text).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startSimulator, EXCHANGE_RESOURCE, RWS_PERMISSION, type Simulator } from '../../simulator';
import { createSourceClients } from '../../shared/api/clients';
import { diagnoseSource, type Diagnosis } from '../../shared/diagnostics/diagnose';
import { formatDiagnosis } from '../../cli/diagnose';
import type { SecretSource } from '../../shared/auth/secrets';
import { ManualClock } from '../../shared/time/clock';
import { sourceFrom, trustSimulator } from '../auth/support';

const clock = new ManualClock(Date.now());
let sim: Simulator;

const secrets = (value: () => string): SecretSource => ({ get: async () => value(), invalidate: () => {} });

before(async () => {
  sim = await startSimulator({ https: true, clock, seed: 5, tenants: [{ rowsPerDay: 5_000 }] });
  trustSimulator(sim);
});
after(async () => sim?.stop());

function reset(): void {
  const t = sim.tenants[0]!;
  sim.setTenant(t.tenantId, { servicePrincipalProvisioned: true, graphPermissionGranted: true, rwsRoleAssigned: true });
}

async function diagnose(extra: Record<string, unknown> = {}, secret: () => string = () => sim.tenants[0]!.clientSecret): Promise<Diagnosis> {
  const source = sourceFrom(sim, {
    auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: 'env:SIM_SECRET' },
    ...extra,
  });
  const { credential, api } = createSourceClients(source, secrets(secret), clock);
  return diagnoseSource(source, { credential, api, clock });
}

const rws = () => ({
  api: 'rws', cloud: 'gcchigh', endpoints: { authorityHost: sim.authorityHost },
  rws: { reportUrl: `${sim.rwsBaseUrl}/MessageTrace`, scope: 'https://outlook.office365.com/.default' },
});

describe('preflight diagnosis', () => {
  it('says Collecting for a working Graph source and decodes the token', async () => {
    reset();
    const d = await diagnose();
    assert.equal(d.state, 'Collecting');
    assert.equal(d.token?.tenantId, sim.tenants[0]!.tenantId);
    assert.equal(d.token?.appId, sim.tenants[0]!.clientId);
    assert.ok(d.token?.roles.includes('ExchangeMessageTrace.Read.All'));
    assert.equal(d.probeRows, 1);
    assert.match(formatDiagnosis(d), /Collecting/);
  });

  it('says Collecting for a working RWS source', async () => {
    reset();
    const d = await diagnose(rws());
    assert.equal(d.state, 'Collecting', d.message);
    assert.ok(d.token?.roles.includes(RWS_PERMISSION));
  });

  it('tells a missing service principal, with the command and that it takes hours', async () => {
    reset();
    sim.setTenant(sim.tenants[0]!.tenantId, { servicePrincipalProvisioned: false });
    const d = await diagnose();
    assert.equal(d.state, 'Error');
    assert.equal(d.reached, 'Authenticated');
    assert.equal(d.code, 'MissingServicePrincipal');
    assert.match(d.fix!, /az ad sp create --id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373/);
    assert.match(d.fix!, /hours/);
  });

  it('tells a missing Graph permission from the token, before any probe', async () => {
    reset();
    sim.setTenant(sim.tenants[0]!.tenantId, { graphPermissionGranted: false });
    const d = await diagnose();
    assert.equal(d.code, 'MissingPermission');
    assert.equal(d.reached, 'Initialized');
    assert.match(d.message, /ExchangeMessageTrace\.Read\.All/);
    assert.match(d.fix!, /admin consent/);
    assert.equal(d.steps.some((s) => s.step === 'probe'), false);
  });

  it('tells a missing RWS permission (ReportingWebService.Read.All)', async () => {
    reset();
    sim.setTenant(sim.tenants[0]!.tenantId, { rwsRoleAssigned: false });
    const d = await diagnose(rws());
    assert.equal(d.code, 'MissingPermission');
    assert.match(d.message, /ReportingWebService\.Read\.All/);
  });

  it('tells a missing directory role when the RWS permission is there but the report is refused', async () => {
    reset();
    const t = sim.tenants[0]!;
    sim.setTenant(t.tenantId, { rwsRoleAssigned: false });
    sim.entra.setAppRoles(t.tenantId, t.clientId, EXCHANGE_RESOURCE, [RWS_PERMISSION]);
    const d = await diagnose(rws());
    assert.equal(d.code, 'MissingDirectoryRole');
    assert.match(d.fix!, /Global Reader/);
  });

  it('tells a wrong tenant', async () => {
    reset();
    const d = await diagnose({ tenantId: randomUUID() });
    assert.equal(d.code, 'WrongTenant', JSON.stringify(d.steps));
    assert.equal(d.reached, 'Started');
    assert.match(d.fix!, /tenantId/);
  });

  it('tells a wrong client secret without showing it', async () => {
    reset();
    const d = await diagnose({}, () => 'not-the-secret-value');
    assert.equal(d.code, 'WrongSecret');
    assert.ok(!JSON.stringify(d).includes('not-the-secret-value'));
  });

  it('tells an expired client secret (AADSTS7000222) and how to replace it', async () => {
    // The simulator does not model secret expiry; this is Entra's exact error text.
    const source = sourceFrom(sim, { auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: 'env:SIM_SECRET' } });
    const { api } = createSourceClients(source, secrets(() => 'x'), clock);
    const credential = { getToken: async () => { throw new Error('AADSTS7000222: The provided client secret keys for app \'x\' are expired. Visit the Azure portal to create new keys for your app.'); } };
    const d = await diagnoseSource(source, { credential, api, clock });
    assert.equal(d.code, 'ExpiredSecret');
    assert.match(d.fix!, /new client secret/);
  });

  it('says Pending for a disabled source', async () => {
    const d = await diagnose({ enabled: false });
    assert.equal(d.state, 'Pending');
  });
});
