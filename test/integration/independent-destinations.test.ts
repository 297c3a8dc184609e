/**
 * Destinations are independent (ARCHITECTURE invariant 11, issue 17): a destination that is down
 * for hours delays no other destination by a single page, for live collection and backfill alike;
 * its backlog is bounded and visible, it catches up after recovery with nothing lost or duplicated,
 * and past its limit it is parked, what it misses is recorded, and a replay re-collects it for it
 * alone. The real planner, page worker and drain against the simulator and Azurite, on a
 * ManualClock (test/support/worker-harness.ts `runFor`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startSimulator, type Simulator } from '../../simulator';
import { rowKey, type TraceEvent } from '../../shared/model/row';
import { startBackfill } from '../../shared/backfill';
import { sourceStatus } from '../../shared/status';
import { replayDestination } from '../../shared/delivery/replay';
import { isPageJob } from '../../shared/queue/jobs';
import type { Runtime } from '../../shared/runtime';
import { createHarness, outcomesText, type Harness } from '../support/worker-harness';
import { compareDelivery, startReceiver, type Receiver } from '../support/receiver';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

let sim: Simulator;
let siem: Receiver;
let archive: Receiver;
let lake: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startSimulator({
    https: true,
    seed: 17,
    clock: { now: () => current?.clock.now() ?? T0, toRealMs: () => 0, sleep: async () => {}, describe: () => 'test' },
    // Statuses that change after a row first appears: the settle re-reads find them and send update events.
    tenants: [{ rowsPerDay: 24_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 60_000 }, transient: { fraction: 0.3, minDelayMs: 5 * MINUTE, maxDelayMs: 30 * MINUTE } } }],
  });
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), sim.caCertificatePem!]);
  siem = await startReceiver();
  archive = await startReceiver();
  lake = await startReceiver();
});

after(async () => {
  await sim?.stop();
  await siem?.close();
  await archive?.close();
  await lake?.close();
});

function doc(opts: { lake?: Record<string, unknown>; pageSize?: number; settle?: unknown } = {}) {
  const t = sim.tenants[0]!;
  return {
    sources: [{
      id: 'contoso',
      tenantId: t.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:SIM_SECRET' },
      start: new Date(T0 - HOUR).toISOString(),
      collectionDelay: '5m',
      sliceLength: '6h',
      pageSize: opts.pageSize ?? 400,
      settle: opts.settle ?? { rereads: [] },
      destinations: ['siem', 'archive', 'lake'],
    }],
    destinations: [
      { id: 'siem', type: 'http', url: siem.url, allowInsecureLoopback: true },
      { id: 'archive', type: 'http', url: archive.url, allowInsecureLoopback: true, gzip: true },
      { id: 'lake', type: 'http', url: lake.url, allowInsecureLoopback: true, retry: { initialInterval: '10s', maxInterval: '5m' }, ...opts.lake },
    ],
  };
}

async function harness(d: unknown): Promise<Harness> {
  for (const r of [siem, archive, lake]) {
    r.events.length = 0;
    r.failWith(0, 0);
  }
  sim.clearFaults();
  const h = await createHarness({ doc: d, env: { SIM_SECRET: sim.tenants[0]!.clientSecret }, startAt: T0 });
  current = h;
  return h;
}

/** The row keys of trace events a receiver holds (update events excluded). */
function keysOf(r: Receiver): string[] {
  return r.events.filter((e: TraceEvent) => !e.update).map((e) => rowKey(e.tenantId, e.row));
}

/** Every row of the tenant in the ranges collected, as the simulator knows them now. */
function expected(h: Harness, ranges: [number, number][]): string[] {
  const t = sim.tenants[0]!.tenantId;
  return ranges.flatMap(([a, b]) => sim.groundTruth(t, a, b, { asOf: h.clock.now() }).map((r) => rowKey(t, r)));
}

/** Events the ledger recorded as forwarded: every recorded page's events, summed over the slices. */
async function recordedEvents(h: Harness): Promise<number> {
  let rows = 0;
  for await (const s of h.ledger.listSlices('contoso')) rows += s.rows;
  return rows;
}

describe('destinations are independent', () => {
  it('one destination down for two hours during a multi-page backfill, live collection and settle re-reads: the two healthy ones get every page as it is recorded, the third catches up after recovery, nothing lost or duplicated', async () => {
    const h = await harness(doc({ settle: { rereads: ['1h'], bucket: '1h' } }));
    const recoverAt = T0 + 2 * HOUR;
    lake.failWith(503);
    const backfillRange: [number, number] = [T0 - 30 * HOUR, T0 - 24 * HOUR];
    // The first planner run makes the cursor; then the backfill (6 hours, one slice of ~15 pages at $top 400).
    await h.plan();
    const started = await startBackfill(h.deps as unknown as Runtime, 'contoso', { start: new Date(backfillRange[0]).toISOString(), end: new Date(backfillRange[1]).toISOString() }, (id) => `/runs/${id}`);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const runId = String(started.body.runId);

    let backfillPages = 0, livePages = 0, backfillDoneAt = 0, lakeDuringOutage = 0, maxBacklogUnits = 0;
    let checkedLagging = false, maxGauge = 0;
    await h.runFor(2 * HOUR + 40 * MINUTE, {
      beforePlan: async (now) => {
        if (now >= recoverAt) lake.failWith(0, 0);
      },
      afterJob: async (job, result) => {
        if (h.clock.now() < recoverAt) lakeDuringOutage = lake.events.length;
        const gauge = [...h.telemetry.gauges.values()].find((g) => g.name === 'mtc.destination.backlog_pages' && g.attributes.destination === 'lake');
        maxGauge = Math.max(maxGauge, gauge?.value ?? 0);
        if (!isPageJob(job) || !['forwarded', 'slice-done'].includes(result.outcome)) return;
        if (job.sliceId.startsWith('B-')) backfillPages++;
        if (job.sliceId.startsWith('L-')) livePages++;
        // After every recorded page, each healthy destination holds every event recorded so far:
        // not one page waited for the destination that is down.
        const recorded = await recordedEvents(h);
        assert.equal(siem.events.length, recorded, `siem lags the ledger after ${job.sliceId} page ${job.page}`);
        assert.equal(archive.events.length, recorded, `archive lags the ledger after ${job.sliceId} page ${job.page}`);
        if (job.sliceId.startsWith(`B-${runId}`) && result.outcome === 'slice-done') backfillDoneAt = h.clock.now();
        if (h.clock.now() < recoverAt) {
          const lakeStatus = (await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations.find((d) => d.id === 'lake')!;
          maxBacklogUnits = Math.max(maxBacklogUnits, lakeStatus.backlog.units);
          if (h.clock.now() > T0 + HOUR && !checkedLagging) {
            checkedLagging = true;
            assert.equal(lakeStatus.state, 'lagging');
            assert.ok(lakeStatus.backlog.units > 0 && lakeStatus.backlog.bytes > 0 && lakeStatus.backlog.events > 0, JSON.stringify(lakeStatus));
            assert.ok(lakeStatus.backlog.oldestAgeSeconds >= 3600, `the oldest unit has waited since the start: ${JSON.stringify(lakeStatus)}`);
            assert.equal((lakeStatus.lastError as { code?: string }).code, 'Http503', JSON.stringify(lakeStatus));
            const siemStatus = (await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations.find((d) => d.id === 'siem')!;
            assert.deepEqual([siemStatus.state, siemStatus.backlog.units], ['ok', 0]);
          }
        }
      },
    });
    assert.ok(backfillPages >= 10, `the backfill is multi-page: ${backfillPages} pages (${outcomesText(h)})`);
    assert.ok(backfillDoneAt > 0 && backfillDoneAt < recoverAt, `the backfill finished during the outage (at +${Math.round((backfillDoneAt - T0) / MINUTE)} min), not after it`);
    assert.equal(lakeDuringOutage, 0, 'the destination that was down received nothing while it was down');
    assert.ok(checkedLagging && maxBacklogUnits >= backfillPages, `its backlog held the backfill and live pages: ${maxBacklogUnits}`);
    assert.ok(maxGauge > 0, 'the backlog gauge was reported while it waited');

    // After recovery the third caught up: every destination holds exactly the expected rows, once.
    const health = await h.ledger.getHealth('contoso');
    const want = expected(h, [backfillRange, [T0 - HOUR, health!.completedUntil]]);
    assert.ok(want.length > 5000, `a real amount of data: ${want.length}`);
    for (const [name, r] of [['siem', siem], ['archive', archive], ['lake', lake]] as const) {
      const cmp = compareDelivery(want, keysOf(r));
      assert.deepEqual([cmp.missing, cmp.duplicate, cmp.unexpected], [0, 0, 0], `${name}: ${JSON.stringify(cmp)}`);
    }
    const lakeStatus = (await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations.find((d) => d.id === 'lake')!;
    assert.deepEqual([lakeStatus.state, lakeStatus.backlog.units], ['ok', 0], JSON.stringify(lakeStatus));
    // Live collection went on during the outage: a live page job at least every other poll interval
    // (a quiet tenant's live slice spans two, issue 19) and the watermark within the lag target
    // (collection delay + 2 intervals) of now.
    assert.ok(livePages >= 0.9 * ((2 * HOUR + 40 * MINUTE) / (2 * MINUTE)), `live collection went on during the outage: ${livePages} live page jobs`);
    assert.ok(health!.completedUntil >= h.clock.now() - 5 * MINUTE - 2 * MINUTE, `the watermark is within the lag target: ${new Date(health!.completedUntil).toISOString()}`);
    // Settle re-reads went the same way: their update events reached every destination, once each.
    const updates = (r: Receiver) => r.events.filter((e) => e.update).map((e) => e.eventId).sort();
    let rescansHandedOff = 0;
    for await (const s of h.ledger.listSlices('contoso', { fromRowKey: 'R', toRowKey: 'S' })) rescansHandedOff += s.marks.lake?.handedOff ?? 0;
    assert.ok(updates(siem).length > 0 && rescansHandedOff > 0, `re-read pages with update events went to the backlog of the destination that was down (${updates(siem).length} updates, ${rescansHandedOff} re-read pages handed off)`);
    assert.deepEqual(updates(lake), updates(siem));
    assert.deepEqual(updates(archive), updates(siem));
    assert.equal(new Set(updates(lake)).size, updates(lake).length, 'no update event twice');
  });

  it('past its backlog limit a destination is parked: nothing more is stored for it, what it missed is listed, and a replay re-collects that for it alone, exactly once', async () => {
    const h = await harness(doc({ lake: { backlog: { maxPages: 10 } }, pageSize: 5000 }));
    lake.failWith(503);
    await h.runFor(40 * MINUTE);
    let status = (await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations.find((d) => d.id === 'lake')!;
    assert.equal(status.state, 'parked', JSON.stringify(status));
    assert.equal(status.parkReason, 'limit:pages');
    assert.ok(status.backlog.units >= 11 && status.backlog.units <= 12, `the backlog stopped growing at its limit: ${status.backlog.units}`);
    assert.ok(status.missed && status.missed.units > 0 && status.missed.ranges.length >= 1, JSON.stringify(status.missed));
    assert.ok(h.telemetry.events.some((e) => e.name === 'mtc.destination.parked' && e.properties.destination === 'lake' && e.properties.reason === 'limit:pages'));
    const storedWhileParked = status.backlog.units;
    await h.runFor(20 * MINUTE);
    status = (await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations.find((d) => d.id === 'lake')!;
    assert.equal(status.backlog.units, storedWhileParked, 'a parked destination stores nothing more');
    const siemBefore = siem.events.length;

    lake.failWith(0, 0);
    const replay = await replayDestination(h.deps as unknown as Runtime, h.config.sources[0]!, 'lake');
    assert.equal(replay.resumed, true);
    assert.ok(replay.recollect && replay.recollect.slicesTotal >= 1, JSON.stringify(replay));
    // A repeated replay admits nothing new.
    const again = await replayDestination(h.deps as unknown as Runtime, h.config.sources[0]!, 'lake');
    assert.equal(again.recollect, undefined, JSON.stringify(again));
    await h.runFor(30 * MINUTE);
    if (process.env.DEBUG_IND) {
      console.log(outcomesText(h), JSON.stringify((await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations), JSON.stringify((await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).runs));
      console.log(h.log.lines.filter((l) => /lake|drain/.test(l.message)).slice(-30).map((l) => l.message).join('\n'));
    }
    const health = await h.ledger.getHealth('contoso');
    const want = expected(h, [[T0 - HOUR, health!.completedUntil]]);
    const lakeCmp = compareDelivery(want, keysOf(lake));
    assert.deepEqual([lakeCmp.missing, lakeCmp.duplicate, lakeCmp.unexpected], [0, 0, 0], `lake got everything back, once: ${JSON.stringify(lakeCmp)}`);
    // The re-collection went to the parked destination alone; the healthy ones got nothing twice.
    for (const [name, r] of [['siem', siem], ['archive', archive]] as const) {
      const cmp = compareDelivery(want, keysOf(r));
      assert.deepEqual([cmp.missing, cmp.duplicate, cmp.unexpected], [0, 0, 0], `${name}: ${JSON.stringify(cmp)}`);
    }
    assert.ok(siem.events.length > siemBefore, 'live collection went on');
    status = (await sourceStatus(h.deps as unknown as Runtime, h.config.sources[0]!)).destinations.find((d) => d.id === 'lake')!;
    assert.deepEqual([status.state, status.backlog.units], ['ok', 0], JSON.stringify(status));
  });
});
