/**
 * Settle-and-reconcile with the simulator's late rows (visible up to 20 h after they were received)
 * and status changes (pending/gettingStatus becoming final hours later), on a ManualClock: live
 * polls every 15 minutes over two days, then a day more for the re-reads to settle.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startSimulator, type Simulator } from '../../simulator';
import { rowKey, type TraceEvent } from '../../shared/model/row';
import { sourceStatus } from '../../shared/status';
import type { Runtime } from '../../shared/runtime';
import { createHarness, type Harness } from '../support/worker-harness';
import { gzipSync } from 'node:zlib';
import { bucketOf, fingerprint } from '../../shared/settle/seen-store';
import { startReceiver, type Receiver } from '../support/receiver';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 18, 0, 0, 0);
const STEP = 30 * 60_000;

let sim: Simulator;
let receiver: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startSimulator({
    https: true,
    seed: 31,
    clock: { now: () => (current ? current.clock.now() : T0), toRealMs: () => 0, sleep: async () => {}, describe: () => 'test' },
    tenants: [{
      rowsPerDay: 6000,
      traffic: {
        visibilityDelay: { minMs: 0, maxMs: 20 * HOUR, distribution: 'exponential', meanMs: 45 * 60_000 },
        transient: { fraction: 0.25, minDelayMs: 5 * 60_000, maxDelayMs: 8 * HOUR },
      },
    }],
  });
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), sim.caCertificatePem!]);
  receiver = await startReceiver();
});

after(async () => {
  await sim?.stop();
  await receiver?.close();
});

function doc() {
  const t = sim.tenants[0]!;
  return {
    sources: [{
      id: 'settling',
      tenantId: t.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:SIM_SECRET' },
      start: new Date(T0).toISOString(),
      collectionDelay: '10m',
      sliceLength: '1h',
      pollInterval: '30m',
      settle: { rereads: ['1h', '6h', '24h'], bucket: '1h' },
      destinations: ['siem'],
    }],
    destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
  };
}

/**
 * Where live collection must be complete after a run: a 6000 rows/day tenant at a 30-minute poll is
 * quiet (two intervals fit in one request), so its live slice spans two intervals (the lag target
 * is the delay + 2 intervals): the last planning run that planned did so at now or one interval
 * before, and everything up to that run's now minus the delay is collected.
 */
async function liveEdge(h: Harness): Promise<string> {
  const cursor = (await h.ledger.getCursor('settling'))!;
  const age = h.clock.now() - cursor.lastPlannedAt;
  assert.ok(age === 0 || age === STEP, `the last live slice was planned at this run or the one before (${age} ms ago)`);
  return new Date(Math.floor((cursor.lastPlannedAt - 10 * 60_000) / 1000) * 1000).toISOString();
}

async function run(h: Harness, untilMs: number, between?: (h: Harness) => Promise<void>): Promise<void> {
  while (h.clock.now() < untilMs) {
    h.clock.advance(STEP);
    await h.plan();
    await h.drain();
    await between?.(h);
  }
}

describe('settle-and-reconcile', () => {
  it('once settled the destination holds every row with its final status; late rows and changes arrive, nothing unchanged is sent twice', async () => {
    const h = await createHarness({ doc: doc(), env: { SIM_SECRET: sim.tenants[0]!.clientSecret }, startAt: T0 });
    current = h;
    // Which rows each live read could see: checked after each step against the slices it recorded.
    const liveSeen = new Map<string, number>();
    const checkedSlices = new Set<string>();
    const noteLive = async (hh: Harness) => {
      for await (const s of hh.ledger.listSlices('settling', { state: 'done' })) {
        if (s.kind !== 'live' || checkedSlices.has(s.id)) continue;
        checkedSlices.add(s.id);
        for (const r of sim.groundTruth(sim.tenants[0]!.tenantId, s.startMs, s.endMs, { asOf: s.updatedAt })) liveSeen.set(rowKey(sim.tenants[0]!.tenantId, r), s.updatedAt);
      }
    };
    await run(h, T0 + 48 * HOUR + 10 * 60_000, noteLive);
    const trafficEnd = T0 + 48 * HOUR;
    await run(h, trafficEnd + 26 * HOUR);

    const health = await h.ledger.getHealth('settling');
    assert.ok(health!.settledUntil >= trafficEnd, `settledUntil ${new Date(health!.settledUntil).toISOString()} covers the traffic`);
    const tenantId = sim.tenants[0]!.tenantId;
    const truth = sim.groundTruth(tenantId, T0, trafficEnd, { asOf: h.clock.now() });
    const events = receiver.events.filter((e) => e.sourceId === 'settling' && Date.parse(e.row.receivedDateTime) < trafficEnd);
    const byKey = new Map<string, TraceEvent[]>();
    for (const e of events) {
      const k = rowKey(e.tenantId, e.row);
      let list = byKey.get(k);
      if (!list) byKey.set(k, (list = []));
      list.push(e);
    }
    let missing = 0, wrongFinal = 0, lateCaught = 0, updates = 0, redundant = 0, notForwardedLive = 0;
    for (const r of truth) {
      const k = rowKey(tenantId, r);
      const list = byKey.get(k);
      if (!list) {
        missing++;
        continue;
      }
      if (String(list[list.length - 1]!.row.status).toLowerCase() !== String(r.status).toLowerCase()) wrongFinal++;
      if (list[0]!.collectedBy === 'rescan') lateCaught++;
      if (liveSeen.has(k) && list[0]!.collectedBy !== 'live') notForwardedLive++;
      updates += list.filter((e) => e.update).length;
      for (let i = 1; i < list.length; i++) if (list[i]!.eventId === list[i - 1]!.eventId) redundant++;
    }
    const ids = events.map((e) => e.eventId);
    redundant += ids.length - new Set(ids).size - redundant;
    const status = await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!);
    console.log(`settle: rows=${truth.length} events=${events.length} missing=${missing} late-arrivals-caught=${lateCaught} status-updates=${updates} redundant-sends=${redundant} wrong-final-status=${wrongFinal} live-requests=${status.requestsByKind.live} reread-requests=${status.requestsByKind.rescan}`);
    assert.ok(truth.length > 10_000);
    assert.equal(missing, 0, 'every ground-truth row reached the destination');
    assert.equal(wrongFinal, 0, 'the latest event of every row carries its final status');
    assert.equal(notForwardedLive, 0, 'rows visible at their live read were forwarded by it, within the collection delay');
    assert.equal(redundant, 0, 'no unchanged row was sent twice');
    assert.ok(lateCaught > 0, 'some rows arrived late and were caught by re-reads');
    assert.ok(updates > 0, 'some status changes were forwarded as updates');
    assert.ok(events.filter((e) => e.update).every((e) => e.previous && typeof (e.previous as { status?: unknown }).status === 'string'));
    assert.equal(status.freshUntil, await liveEdge(h));
    assert.deepEqual(status.gaps, []);
    // The seen-store of settled buckets is dropped.
    let left = 0;
    for await (const e of h.storage.table(`${h.ledger.prefix}seen`).listEntities()) if (Number(String(e.partitionKey).split('~')[1]) + HOUR <= health!.settledUntil) left++;
    for await (const b of h.storage.container(`${h.ledger.prefix}seen`).listBlobsFlat()) if (Number(b.name.split('/')[1]) + HOUR <= health!.settledUntil) left++;
    assert.equal(left, 0, 'settled buckets keep no seen-store');
  });

  it('after an outage status is accurate and a hole in the ledger is found and filled on its own', async () => {
    receiver.events.length = 0;
    const h = await createHarness({ doc: doc(), env: { SIM_SECRET: sim.tenants[0]!.clientSecret }, startAt: T0 });
    current = h;
    await run(h, T0 + 6 * HOUR);
    // Outage: nothing runs for 8 hours.
    h.clock.advance(8 * HOUR);
    let status = await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!);
    assert.ok(status.lagSeconds! >= 8 * 3600, `lag after the outage: ${status.lagSeconds}`);
    assert.ok(Date.parse(status.freshUntil!) <= T0 + 6 * HOUR);
    // A lost ledger write: one done slice disappears.
    const slices = [];
    for await (const s of h.ledger.listSlices('settling')) if (s.kind === 'live') slices.push(s);
    const lost = slices[Math.floor(slices.length / 2)]!;
    await h.ledger.slices.deleteEntity('settling', lost.id);
    await h.ledger.mergeHealth('settling', { completedUntil: 0 });
    await h.ledger.health.updateEntity({ partitionKey: 'settling', rowKey: 'health', completedUntil: lost.startMs }, 'Merge');
    await run(h, h.clock.now() + 2 * STEP);
    status = await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!);
    assert.equal(status.freshUntil, await liveEdge(h));
    assert.deepEqual(status.gaps, []);
    assert.ok(Date.parse(status.settledUntil!) <= Date.parse(status.freshUntil!));
    assert.ok(h.log.text().includes('no slice covered'), 'the hole was found');
    const refilled = await h.ledger.getSlice('settling', lost.id);
    assert.equal(refilled?.state, 'done');
  });
});

describe('seen-store size', () => {
  it('costs a few tens of bytes per row (measured per million rows)', async () => {
    const tenantId = sim.tenants[0]!.tenantId;
    // Rows of a busy tenant: a day of the simulator's traffic, one record per page of 5000 rows per 1-hour bucket.
    const rows = sim.groundTruth(tenantId, T0, T0 + 24 * HOUR, { asOf: T0 + 48 * HOUR, onlyVisible: false });
    let bytes = 0;
    const byBucket = new Map<number, { keys: string[]; fps: string[] }[]>();
    for (const r of rows) {
      const b = bucketOf(Date.parse(r.receivedDateTime), HOUR);
      let pages = byBucket.get(b);
      if (!pages) byBucket.set(b, (pages = [{ keys: [], fps: [] }]));
      let page = pages[pages.length - 1]!;
      if (page.keys.length >= 5000) pages.push((page = { keys: [], fps: [] }));
      page.keys.push(rowKey(tenantId, r));
      page.fps.push(fingerprint(r));
    }
    for (const pages of byBucket.values()) for (const p of pages) bytes += gzipSync(Buffer.from(JSON.stringify(p))).length;
    const perMillion = Math.round((bytes / rows.length) * 1_000_000);
    console.log(`seen-store: ${rows.length} rows -> ${bytes} bytes gzip = ${(perMillion / 1e6).toFixed(1)} MB per million rows (${(bytes / rows.length).toFixed(1)} bytes/row)`);
    assert.ok(perMillion < 60_000_000, `seen-store per million rows: ${perMillion}`);
  });
});
