/**
 * Errors to health, self-healing pagination, token expiry, destinations failing on their own,
 * poison handling and replay: the real planner and page worker against the simulator and Azurite,
 * on a ManualClock (test/support/worker-harness.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startSimulator, type Simulator } from '../../simulator';
import { rowKey } from '../../shared/model/row';
import { replayParked } from '../../shared/recovery';
import { handlePoisonMessage, listUnattributedPoison } from '../../shared/worker/poison';
import { createHarness, outcomesText, type Harness } from '../support/worker-harness';
import { compareDelivery, startReceiver, type Receiver } from '../support/receiver';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

let sim: Simulator;
let receiver: Receiver;
let second: Receiver;
let third: Receiver;

before(async () => {
  sim = await startSimulator({
    https: true,
    seed: 11,
    clock: { now: () => clockNow(), toRealMs: () => 0, sleep: async () => {}, describe: () => 'test' },
    tenants: [
      { rowsPerDay: 24_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 60_000 } } },
    ],
  });
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), sim.caCertificatePem!]);
  receiver = await startReceiver();
  second = await startReceiver();
  third = await startReceiver();
});

after(async () => {
  await sim?.stop();
  await receiver?.close();
  await second?.close();
  await third?.close();
});

// The simulator reads the clock of whichever harness runs now.
let current: Harness | undefined;
function clockNow(): number {
  return current ? current.clock.now() : T0;
}

function doc(opts: { secretEnv?: string; pageSize?: number; destinations?: unknown[]; sources?: Record<string, unknown>; start?: string } = {}) {
  const t = sim.tenants[0]!;
  return {
    sources: [{
      id: 'contoso',
      tenantId: t.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: `env:${opts.secretEnv ?? 'SIM_SECRET'}` },
      start: opts.start ?? new Date(T0 - 6 * HOUR).toISOString(),
      collectionDelay: '10m',
      sliceLength: '2h',
      pageSize: opts.pageSize ?? 5000,
      destinations: (opts.destinations as { id: string }[] | undefined)?.map((d) => d.id) ?? ['siem'],
      ...opts.sources,
    }],
    destinations: opts.destinations ?? [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
  };
}

async function harness(d: unknown, env: NodeJS.ProcessEnv = {}): Promise<Harness> {
  receiver.events.length = 0;
  second.events.length = 0;
  third.events.length = 0;
  receiver.failWith(0, 0);
  sim.clearFaults();
  const h = await createHarness({ doc: d, env: { SIM_SECRET: sim.tenants[0]!.clientSecret, ...env }, startAt: T0 });
  current = h;
  return h;
}

function expectedKeys(h: Harness, startMs: number, endMs: number): string[] {
  const t = sim.tenants[0]!.tenantId;
  return sim.groundTruth(t, startMs, endMs, { asOf: h.clock.now() }).map((r) => rowKey(t, r));
}

async function health(h: Harness) {
  const row = await h.ledger.getHealth('contoso');
  return { ...row, lastError: row?.lastError ? JSON.parse(row.lastError) as { type: string; code: string; message: string; fix?: string } : undefined };
}

describe('errors become health the user can act on', () => {
  it('a missing service principal stops the source with the command that creates it; a replay resumes it', async () => {
    const h = await harness(doc());
    const t = sim.tenants[0]!.tenantId;
    sim.setTenant(t, { servicePrincipalProvisioned: false });
    try {
      await h.plan();
      await h.drain();
      const hl = await health(h);
      assert.equal(hl.state, 'Error');
      assert.equal(hl.lastError!.type, 'ThirdPartyConfig');
      assert.equal(hl.lastError!.code, 'MissingServicePrincipal', 'the preflight (or the first page) names the missing service principal');
      assert.match(hl.lastError!.fix!, /az ad sp create --id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373/);
      assert.match(hl.lastError!.fix!, /hours/);
      assert.ok(h.telemetry.events.some((e) => e.name === 'mtc.health' && e.properties.state === 'Error' && e.properties.errorType === 'ThirdPartyConfig'));
      const requestsBefore = sim.stats(t).listRequests;
      h.clock.advance(5 * 60_000);
      assert.equal(await h.plan(), 'stopped', 'a stopped source plans nothing');
      await h.drain();
      assert.equal(sim.stats(t).listRequests, requestsBefore, 'no request is spent while stopped');
    } finally {
      sim.setTenant(t, { servicePrincipalProvisioned: true });
    }
    const r = await replayParked(h.deps, h.config.sources[0]!);
    assert.ok(r.resumed, 'the replay request resumes the stopped source');
    h.clock.advance(60_000);
    await h.plan();
    await h.drain();
    const hl = await health(h);
    assert.equal(hl.state, 'Collecting');
    const cmp = compareDelivery(expectedKeys(h, T0 - 6 * HOUR, hl.completedUntil!), receiver.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row)));
    assert.deepEqual([cmp.missing, cmp.duplicate], [0, 0], JSON.stringify(cmp));
    assert.equal(hl.completedUntil, h.clock.now() - 10 * 60_000);
  });

  it('403 names the permission and admin consent; a configuration change resumes the source', async () => {
    const h = await harness(doc());
    const t = sim.tenants[0]!.tenantId;
    sim.setTenant(t, { graphPermissionGranted: false });
    try {
      await h.plan();
      await h.drain();
      const hl = await health(h);
      assert.equal(hl.state, 'Error');
      assert.match(hl.lastError!.message, /ExchangeMessageTrace\.Read\.All/);
      assert.match(hl.lastError!.fix!, /admin consent/);
    } finally {
      sim.setTenant(t, { graphPermissionGranted: true });
    }
    // The token cache still holds a token without the role; a new configuration (a new credential) fixes it.
    h.reconfigure(doc({ sources: { pollInterval: '2m' } }));
    h.clock.advance(2 * 60_000);
    assert.notEqual(await h.plan(), 'stopped');
    await h.drain();
    const hl = await health(h);
    assert.equal(hl.state, 'Collecting');
    assert.equal(hl.completedUntil, (await h.ledger.getCursor('contoso'))!.scheduledUntil);
  });

  it('a wrong client secret says which secret reference to update', async () => {
    const h = await harness(doc({ secretEnv: 'WRONG_SECRET' }), { WRONG_SECRET: 'not-the-secret' });
    await h.plan();
    await h.drain();
    const hl = await health(h);
    assert.equal(hl.state, 'Error');
    assert.equal(hl.lastError!.type, 'ThirdPartyConfig');
    assert.match(hl.lastError!.code, /AADSTS7000215|WrongSecret/);
    assert.match(hl.lastError!.fix!, /env:WRONG_SECRET/);
    assert.ok(!JSON.stringify(hl).includes('not-the-secret'), 'the secret value never appears');
    assert.ok(!h.log.text().includes('not-the-secret'));
  });

  it('a 429 storm pauses the tenant for every worker, is retried after Retry-After, and loses nothing', async () => {
    const h = await harness(doc());
    sim.addFault({ kind: '429', probability: 1, count: 6, retryAfterSec: 30, match: { api: 'graph' } });
    await h.plan();
    await h.drain();
    const hl = await health(h);
    assert.equal(hl.state, 'Collecting');
    assert.ok((h.outcomes.deferred ?? 0) >= 1, `other workers waited for the pause: ${outcomesText(h)}`);
    assert.equal((await h.ledger.getCursor('contoso'))!.scheduledUntil, hl.completedUntil);
    const cmp = compareDelivery(expectedKeys(h, T0 - 6 * HOUR, hl.completedUntil!), receiver.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row)));
    assert.deepEqual([cmp.missing, cmp.duplicate], [0, 0], JSON.stringify(cmp));
    assert.ok(h.telemetry.total('mtc.api.requests', { status: '429' }) >= 5, 'the page requests that met the storm (the preflight probe may take one)');
  });

  it('of three destinations, the one that stays down gets every page in its backlog while the healthy ones get each page once; after it recovers it catches up from its backlog without another API request, exactly once', async () => {
    const destinations = [
      { id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true, retry: { initialInterval: '10s', maxInterval: '1m' } },
      { id: 'archive', type: 'http', url: second.url, allowInsecureLoopback: true },
      { id: 'lake', type: 'http', url: third.url, allowInsecureLoopback: true, gzip: true },
    ];
    const h = await harness(doc({ destinations }));
    receiver.failWith(503);
    await h.plan();
    await h.drain({ maxJobs: 60 });
    for await (const s of h.ledger.listSlices('contoso')) {
      assert.notEqual(s.state, 'parked', `${s.id}: a failing destination parks no slice`);
      if (s.state === 'done') assert.ok((s.marks.siem?.handedOff ?? 0) >= 1, `${s.id}: its pages went to the failing destination's backlog`);
    }
    const progress = await h.deps.backlog.getProgress('contoso', 'siem');
    assert.equal(progress?.state, 'lagging');
    assert.ok((progress?.pages ?? 0) >= 1 && JSON.parse(progress!.lastError).type === 'FirstPartyGeneric', JSON.stringify(progress));
    assert.equal(receiver.events.length, 0);
    const t = sim.tenants[0]!.tenantId;
    const apiBefore = sim.stats(t).listRequests;
    receiver.failWith(0, 0);
    await h.drain();
    assert.equal(sim.stats(t).listRequests, apiBefore, 'the catch-up read the backlog copies, not the API');
    assert.equal((await h.deps.backlog.getProgress('contoso', 'siem'))?.state, 'ok');
    const hl = await health(h);
    const expected = expectedKeys(h, T0 - 6 * HOUR, hl.completedUntil!);
    for (const [name, rcv] of [['siem', receiver], ['archive', second], ['lake', third]] as const) {
      const cmp = compareDelivery(expected, rcv.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row)));
      assert.deepEqual([cmp.missing, cmp.duplicate, cmp.unexpected], [0, 0, 0], `${name}: ${JSON.stringify(cmp)}`);
    }
  });
});

describe('self-healing pagination', () => {
  it('every nextLink corrupt: the rest of the slice is re-queried, nothing loops forever or is skipped', async () => {
    const h = await harness(doc({ pageSize: 300 }));
    sim.addFault({ kind: 'corruptNextLink', probability: 1, match: { api: 'graph' } });
    await h.plan();
    await h.drain();
    const hl = await health(h);
    const t = sim.tenants[0]!.tenantId;
    const expected = expectedKeys(h, T0 - 6 * HOUR, hl.completedUntil!);
    const cmp = compareDelivery(expected, receiver.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row)));
    assert.deepEqual([cmp.missing, cmp.duplicate, cmp.unexpected], [0, 0, 0], JSON.stringify(cmp));
    assert.equal(hl.completedUntil, T0 - 10 * 60_000);
    const requests = sim.stats(t).listRequests;
    const pages = Math.ceil(expected.length / 300);
    console.log(`self-heal: rows=${expected.length} pages>=${pages} requests=${requests} (each corrupt link costs 3 failed requests)`);
    assert.ok(requests <= pages * 5 + 10, `bounded requests: ${requests}`);
    assert.ok(h.log.text().includes('re-querying the rest of the slice'));
  });
});

describe('tokens', () => {
  it('a backfill longer than a token lifetime completes: a 401 on a valid token gets one renewal', async () => {
    const h = await harness(doc({ pageSize: 500 }));
    sim.addFault({ kind: 'expiredToken', probability: 1, count: 3, match: { api: 'graph' } });
    await h.plan();
    await h.drain({ advancePerJobMs: 20 * 60_000 });
    const hl = await health(h);
    assert.equal(hl.state, 'Collecting');
    let parked = 0;
    for await (const _ of h.ledger.listSlices('contoso', { state: 'parked' })) parked++;
    assert.equal(parked, 0);
    assert.ok(h.clock.now() - T0 > 2 * 3600_000, 'the run outlived the 1-hour token lifetime');
    const cmp = compareDelivery(expectedKeys(h, T0 - 6 * HOUR, hl.completedUntil!), receiver.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row)));
    assert.deepEqual([cmp.missing, cmp.duplicate], [0, 0], JSON.stringify(cmp));
  });
});

describe('poison and bad messages', () => {
  it('a job that keeps failing becomes a parked slice with its reason; a message that is not a job is recorded, not retried', async () => {
    const h = await harness(doc());
    await h.plan();
    const slices = [];
    for await (const s of h.ledger.listSlices('contoso')) slices.push(s);
    const victim = slices[0]!;
    const poisonDeps = { ledger: h.ledger, storage: h.storage, clock: h.clock, log: h.log, telemetry: h.telemetry };
    const out = await handlePoisonMessage(poisonDeps, { v: 1, sourceId: 'contoso', sliceId: victim.id, page: 0, attempt: 4 }, 'm1');
    assert.match(out, /parked/);
    const parked = await h.ledger.getSlice('contoso', victim.id);
    assert.equal(parked!.state, 'parked');
    assert.equal(parked!.parkReason, 'poison');
    assert.match(JSON.parse(parked!.lastError).fix, /replay/);
    await handlePoisonMessage(poisonDeps, '{"v":2,"what":"ever"}', 'm2');
    const unattributed = await listUnattributedPoison(h);
    assert.equal(unattributed.length, 1);
    assert.match(unattributed[0]!.reason, /not a valid page job/);
    // The rest drains; the poisoned slice holds the watermark back until replayed.
    await h.drain();
    let hl = await health(h);
    assert.equal(hl.completedUntil, victim.startMs);
    await replayParked(h.deps, h.config.sources[0]!);
    await h.drain();
    hl = await health(h);
    assert.equal(hl.completedUntil, T0 - 10 * 60_000);
  });
});
