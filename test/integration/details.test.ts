/**
 * Detail enrichment (issue 17) end to end: the real planner, page worker and detail jobs against
 * the simulator and Azurite on a ManualClock (test/support/worker-harness.ts). Detail sets are
 * compared with what a twin of the simulator answers for the same row at the same instant
 * (test/support/details-truth.ts), never with hard-coded event names.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator, SimulatorOptions } from '../../simulator';
import { eventIdOf, isDetailEvent, receivedMs, rowKey, type TraceEvent } from '../../shared/model/row';
import { createHarness, outcomesText, type Harness, type HarnessInstrument } from '../support/worker-harness';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { startReceiver, type Receiver } from '../support/receiver';
import { DetailTruth, detailSets, recordBudget, refusalsBlamingDetail } from '../support/details-truth';
import { startBackfill } from '../../shared/backfill';
import { sourceStatus } from '../../shared/status';
import { detailRecordKey, type DetailSummary } from '../../shared/details/store';
import { admitDetails } from '../../shared/details/admission';
import { handlePoisonMessage, listUnattributedPoison } from '../../shared/worker/poison';
import { decodeJob, detailJob, JobSchemaError } from '../../shared/queue/jobs';
import { replayParked } from '../../shared/recovery';
import type { Runtime } from '../../shared/runtime';
import type { DetailRequest } from '../../shared/api/client';
import type { GraphMessageTraceClient } from '../../shared/api/graph/client';
import { replayDestination } from '../../shared/delivery/replay';
import { isDetailUnit } from '../../shared/delivery/progress';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const QUALIFYING = new Set(['failed', 'quarantined', 'filteredasspam']);

const SIM: Omit<SimulatorOptions, 'https' | 'clock'> = {
  seed: 31,
  tenants: [
    { rowsPerDay: 12_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 0 } } },
    // Rows placed by the tests (status changes, a quote in an address, a distribution list).
    {
      rowsPerDay: 0,
      traffic: {
        visibilityDelay: { minMs: 0, maxMs: 0 },
        injectedRows: [
          { receivedDateTime: new Date(T0 - 90 * MINUTE).toISOString(), recipientAddress: "o'brien@contoso.com", status: 'quarantined', message: 1 },
          { receivedDateTime: new Date(T0 - 80 * MINUTE).toISOString(), recipientAddress: 'alice@contoso.com', status: 'failed', message: 2 },
          { receivedDateTime: new Date(T0 - 70 * MINUTE).toISOString(), recipientAddress: 'bob@contoso.com', status: 'delivered', message: 3 },
          { receivedDateTime: new Date(T0 - 60 * MINUTE).toISOString(), recipientAddress: 'carol@contoso.com', status: 'filteredAsSpam', message: 4 },
          { receivedDateTime: new Date(T0 - 60 * MINUTE).toISOString(), recipientAddress: 'dave@contoso.com', status: 'filteredAsSpam', message: 4 },
        ],
      },
    },
  ],
};

let sim: Simulator;
let truth: DetailTruth;
let siem: Receiver;
let archive: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator(SIM, () => current?.clock.now() ?? T0);
  truth = await DetailTruth.start(SIM);
  siem = await startReceiver();
  archive = await startReceiver();
});
after(async () => {
  await sim?.stop();
  await truth?.stop();
  await siem?.close();
  await archive?.close();
});

function doc(details: Record<string, unknown>, extra: Record<string, unknown> = {}, tenant = 0) {
  return {
    sources: [{
      id: 'contoso', ...simulatorTenant(sim, tenant),
      start: new Date(T0 - 2 * HOUR).toISOString(), collectionDelay: '5m', sliceLength: '10m', pageSize: 25,
      settle: { rereads: [] }, destinations: ['siem', 'archive'],
      details: { enabled: true, ...details },
      ...extra,
    }],
    destinations: [
      { id: 'siem', type: 'http', url: siem.url, allowInsecureLoopback: true, maxBatchRecords: 25 },
      { id: 'archive', type: 'http', url: archive.url, allowInsecureLoopback: true },
    ],
  };
}

async function harness(d: unknown, budgetLimit = 100, startAt = T0, instrument?: HarnessInstrument): Promise<Harness> {
  siem.events.length = 0;
  archive.events.length = 0;
  siem.failWith(0, 0);
  archive.failWith(0, 0);
  sim.clearFaults();
  const tenant = sim.tenants.find((t) => t.tenantId === (d as { sources: { tenantId: string }[] }).sources[0]!.tenantId)!;
  const h = await createHarness({ doc: d, env: { SIM_SECRET: tenant.clientSecret }, startAt, budgetLimit, ...(instrument ? { instrument } : {}) });
  current = h;
  return h;
}

/**
 * As the deployment runs: the planner every minute, the jobs in between (the clock moves to each
 * job's due time, never past the next planner run); then the queue drained with the planner still
 * running every minute, until nothing is left.
 */
async function runMinutes(h: Harness, minutes: number): Promise<void> {
  const end = h.clock.now() + minutes * MINUTE;
  for (let at = h.clock.now(); at < end || (await queued(h)) > 0; at += MINUTE) {
    await h.plan();
    await h.drain({ untilMs: at + MINUTE });
    if (h.clock.now() < at + MINUTE) h.clock.set(at + MINUTE);
    if (at > end + 24 * 60 * MINUTE) throw new Error('the queue did not empty within a day after the run');
  }
  if (process.env.MTC_HARNESS_VERBOSE) console.log(`runMinutes: ${(h.clock.now() - end) / MINUTE} min past the end; ${outcomesText(h)}`);
}

async function queued(h: Harness): Promise<number> {
  return (await h.storage.queue(h.queueName).getProperties()).approximateMessagesCount ?? 0;
}

/** The trace events (not detail events) a receiver got whose status qualifies. */
function qualifyingTraceEvents(r: Receiver): TraceEvent[] {
  return r.events.filter((e) => !isDetailEvent(e) && QUALIFYING.has(String(e.row.status).toLowerCase()));
}

/** The detail record key of a trace event. */
function recordKeyOf(e: TraceEvent): string {
  return detailRecordKey(receivedMs(e.row.receivedDateTime), rowKey(e.tenantId, e.row), String(e.row.status).toLowerCase());
}

async function records(h: Harness): Promise<DetailSummary[]> {
  const out: DetailSummary[] = [];
  for await (const r of (h.deps as Runtime).details.listRange('contoso', 0, Number.MAX_SAFE_INTEGER / 2)) out.push(r);
  return out;
}

/** Each qualifying row's detail set, once, equal to the simulator's answer at the instant it was asked. */
async function assertDetailSets(r: Receiver, expectWith: Set<string>, tenant = 0): Promise<number> {
  const sets = detailSets(r.events);
  const ids = r.events.filter(isDetailEvent).map((e) => e.eventId);
  assert.equal(new Set(ids).size, ids.length, 'no detail event twice');
  for (const e of qualifyingTraceEvents(r)) {
    const set = sets.get(e.eventId);
    if (!expectWith.has(e.eventId)) {
      assert.equal(set, undefined, `row ${e.row.id}/${e.row.recipientAddress} (${e.row.status}) got details it should not have`);
      continue;
    }
    assert.ok(set, `row ${e.row.id}/${e.row.recipientAddress} (${e.row.status}) got its detail events`);
    const askedAt = Date.parse(set[0]!.collectedAt);
    const expected = await truth.details(e.row.id, e.row.recipientAddress, askedAt, 'v1.0', tenant);
    assert.deepEqual(set.map((x) => x.detail), expected, `the detail set of ${e.row.id}/${e.row.recipientAddress} is the simulator's answer`);
    for (const x of set) {
      assert.equal(x.rowKey, rowKey(e.tenantId, e.row));
      assert.equal(x.traceEventId, eventIdOf(e.tenantId, e.row));
      assert.equal(x.detailCount, expected.length);
      assert.deepEqual(x.row, e.row);
    }
  }
  for (const key of sets.keys()) assert.ok(expectWith.has(key), `a detail set belongs to a qualifying row (${key})`);
  return sets.size;
}

describe('detail enrichment', () => {
  it('with the budget nearly full (a small limit, a backfill running), no live, backfill or rescan request waits for a detail request, and every qualifying row gets exactly its detail set', { timeout: 600_000 }, async () => {
    const h = await harness(doc({ dailyRequestCap: 5000 }), 30);
    const rec = recordBudget(h.deps.budget!, () => h.clock.now());
    h.deps.budget = rec.gate;
    const tenant = sim.tenants[0]!.tenantId;
    const before = sim.stats(tenant);
    await h.plan();
    // A backfill of the two hours before the start, admitted at once: it wants every slot it can get.
    const bf = await startBackfill(h.deps, 'contoso', { start: new Date(T0 - 4 * HOUR).toISOString(), end: new Date(T0 - 2 * HOUR).toISOString() }, (id) => `/runs/${id}`);
    assert.equal(bf.status, 202, JSON.stringify(bf.body));
    await runMinutes(h, 150);
    const stats = sim.stats(tenant);
    assert.equal(stats.throttled - before.throttled, 0, 'no 429 from the simulator');
    const o = (h.budget as unknown as { options: { allowed: number; windowMs: number } }).options;
    // The budget was under pressure: live and backfill requests were refused, and detail requests got slots.
    const refusedOthers = rec.calls.filter((c) => !c.granted && c.priority !== 'detail');
    const detailGrants = rec.calls.filter((c) => c.granted && c.priority === 'detail');
    assert.ok(refusedOthers.length > 10, `live/backfill requests met a full window (${refusedOthers.length}) — ${outcomesText(h)}`);
    assert.ok(detailGrants.length > 50, `detail requests were granted (${detailGrants.length})`);
    assert.ok(rec.calls.some((c) => !c.granted && c.priority === 'detail'), 'detail requests were refused too');
    // The budget's own count, and the window rebuilt from what the worker was told, agree: nobody waited for a detail.
    const blamed = refusalsBlamingDetail(rec.calls, o);
    const waited = (await h.budget.usage(tenant)).waitedForDetail;
    if (waited || blamed.length) {
      const at = (blamed[0] ?? rec.calls.find((c) => !c.granted && c.priority !== 'detail'))!.at;
      const around = rec.calls.filter((c) => c.at > at - o.windowMs && c.at <= at).map((c) => `${((c.at - T0) / 1000).toFixed(0)}s ${c.priority} ${c.granted ? 'granted' : `refused ${c.reason} ${c.waitMs}`}`);
      console.log(`waitedForDetail ${waited}; blamed ${blamed.length}: ${JSON.stringify(blamed.slice(0, 5))}\nthe window before the first:\n${around.join('\n')}`);
    }
    assert.equal(waited, 0, 'the budget counted no request that waited because of a detail grant');
    assert.deepEqual(blamed, [], 'no refusal of a live, backfill or rescan request had a detail grant to blame');
    // Every qualifying row of both destinations: its detail set once, equal to the simulator's.
    const qualifying = new Set(qualifyingTraceEvents(siem).map((e) => e.eventId));
    assert.ok(qualifying.size > 50, `qualifying rows: ${qualifying.size}`);
    assert.equal(await assertDetailSets(siem, qualifying), qualifying.size);
    assert.equal(await assertDetailSets(archive, qualifying), qualifying.size);
    // One request a row (no paged answers here), plus one more after a 401 on an expired token; each counted against the cap.
    // (The simulator does not count a request whose token it refused.)
    const sent = h.telemetry.total('mtc.details.requests');
    const renewals = h.telemetry.total('mtc.details.requests', { status: '401' });
    assert.equal(h.telemetry.total('mtc.details.requests', { status: '200' }), qualifying.size, 'one answered detail request per qualifying row');
    assert.equal(sent, qualifying.size + renewals, `and one more after each 401 (${renewals})`);
    assert.ok(stats.detailRequests - before.detailRequests <= sent && stats.detailRequests - before.detailRequests >= qualifying.size, 'the simulator saw those requests');
    const status = await sourceStatus(h.deps as Runtime, h.config.sources[0]!);
    assert.equal(status.details?.today.requests, sent, 'the cap counted every request sent');
    assert.equal(status.details?.today.done, qualifying.size);
    assert.equal(status.details?.backlog.pending, 0);
    assert.equal(status.details?.parked.count, 0);
    assert.ok((await records(h)).every((r) => r.state === 'done'));
  });

  it('past the daily request cap, qualifying rows are skipped and counted, and nothing else is lost', { timeout: 600_000 }, async () => {
    const h = await harness(doc({ dailyRequestCap: 20 }, { pageSize: 200 }));
    await runMinutes(h, 10);
    const qualifying = qualifyingTraceEvents(siem);
    assert.ok(qualifying.length > 60, `qualifying rows: ${qualifying.length}`);
    const all = await records(h);
    const done = all.filter((r) => r.state === 'done');
    const skipped = all.filter((r) => r.state === 'skipped');
    assert.equal(all.length, qualifying.length, 'a record per qualifying row');
    assert.equal(done.length, 20, 'the cap\'s worth of rows got their details');
    assert.ok(skipped.every((r) => r.skipReason === 'cap'));
    assert.equal(done.length + skipped.length, qualifying.length, 'every other qualifying row is skipped (cap)');
    const status = await sourceStatus(h.deps as Runtime, h.config.sources[0]!);
    assert.equal(status.details?.today.skippedCap, skipped.length);
    assert.equal(status.details?.today.done, 20);
    assert.ok(status.details!.today.requests <= 20 + h.telemetry.total('mtc.details.requests', { status: '401' }), `requests ${status.details!.today.requests} within the cap`);
    assert.equal(h.telemetry.total('mtc.details.skipped', { reason: 'cap' }), skipped.length);
    const doneKeys = new Set(done.map((r) => r.key));
    const withDetails = new Set(qualifying.filter((e) => doneKeys.has(recordKeyOf(e))).map((e) => e.eventId));
    assert.equal(await assertDetailSets(siem, withDetails), 20);
    // Nothing else lost: every row of the collected range reached the destination, once.
    const t = sim.tenants[0]!.tenantId;
    const health = await h.ledger.getHealth('contoso');
    const expected = sim.groundTruth(t, T0 - 2 * HOUR, health!.completedUntil, { asOf: h.clock.now() }).map((r) => rowKey(t, r)).sort();
    const got = siem.events.filter((e) => !isDetailEvent(e)).map((e) => rowKey(e.tenantId, e.row)).sort();
    assert.deepEqual(got, expected);
  });

  it('a page admitted again (redelivered) or re-read unchanged makes no second record; a status change makes a new record and a second detail set', { timeout: 600_000 }, async () => {
    // One re-read of each 15-minute bucket two hours after it closed (after the status change below).
    const h = await harness(doc({}, { sliceLength: '1h', pageSize: 2, settle: { rereads: ['2h'], bucket: '15m' } }, 1));
    await runMinutes(h, 30);
    const first = qualifyingTraceEvents(siem);
    assert.deepEqual(first.map((e) => e.row.recipientAddress).sort(), ['alice@contoso.com', 'carol@contoso.com', 'dave@contoso.com', "o'brien@contoso.com"]);
    const qualifying = new Set(first.map((e) => e.eventId));
    assert.equal(await assertDetailSets(siem, qualifying, 1), 4, "each qualifying row's set, the quoted address too");
    // The same page admitted again (a redelivery after a crash before the page was recorded).
    const again = await admitDetails(h.deps, h.config.sources[0]!, { id: 'L-redelivered', kind: 'live' }, first);
    assert.deepEqual({ created: again.pending, existing: again.existing }, { created: 0, existing: 4 });
    await runMinutes(h, 5);
    assert.equal(await assertDetailSets(siem, qualifying, 1), 4, 'no second set after the repeat');
    assert.equal((await records(h)).length, 4);
    assert.ok((await records(h)).every((r) => r.state === 'done'));
    // o'brien's mail changes from quarantined to failed: the next re-read sends an update, and its details.
    const twinTenant = truth.twin.tenants[1]!.tenantId;
    assert.equal(sim.amendInjectedRows(sim.tenants[1]!.tenantId, "o'brien@contoso.com", { status: 'failed' }), 1);
    assert.equal(truth.twin.amendInjectedRows(twinTenant, "o'brien@contoso.com", { status: 'failed' }), 1);
    const before = new Set(siem.events.map((e) => e.eventId));
    await runMinutes(h, 120);
    const update = siem.events.filter((e) => !before.has(e.eventId) && !isDetailEvent(e));
    assert.equal(update.length, 1, 'one update event');
    assert.equal(update[0]!.row.status, 'failed');
    const all = await records(h);
    assert.ok(h.telemetry.total('mtc.events.discarded', { reason: 'unchanged_on_reread' }) >= 4, 'the re-reads found the other rows unchanged');
    assert.equal(all.length, 5, 'a new record for the new status, none for the rows re-read unchanged');
    const newSets = detailSets(siem.events.filter((e) => !before.has(e.eventId)));
    assert.deepEqual([...newSets.keys()], [update[0]!.eventId], 'a second detail set, for the failed row');
    const set = newSets.get(update[0]!.eventId)!;
    assert.deepEqual(set.map((x) => x.detail), await truth.details(update[0]!.row.id, "o'brien@contoso.com", Date.parse(set[0]!.collectedAt), 'v1.0', 1));
  });

  it('a row older than the detail retention is skipped (retention), the newer ones get their details', { timeout: 600_000 }, async () => {
    const h = await harness(doc({ statuses: ['failed'], retention: '1d' }, { start: new Date(T0 - 26 * HOUR).toISOString(), sliceLength: '2h', pageSize: 1000 }));
    await runMinutes(h, 5);
    const qualifying = qualifyingTraceEvents(siem).filter((e) => String(e.row.status).toLowerCase() === 'failed');
    const all = await records(h);
    assert.equal(all.length, qualifying.length);
    const old = all.filter((r) => r.receivedMs < r.collectedAt - 24 * HOUR);
    assert.ok(old.length > 5 && old.length < all.length, `rows past the retention: ${old.length} of ${all.length}`);
    assert.ok(old.every((r) => r.state === 'skipped' && r.skipReason === 'retention'), 'every row past the retention is skipped for it');
    assert.ok(all.filter((r) => !old.includes(r)).every((r) => r.state === 'done'));
    const oldKeys = new Set(old.map((r) => r.key));
    const withDetails = new Set(qualifying.filter((e) => !oldKeys.has(recordKeyOf(e))).map((e) => e.eventId));
    await assertDetailSets(siem, withDetails);
    assert.equal(h.telemetry.total('mtc.details.skipped', { reason: 'retention' }), old.length);
    assert.equal((await sourceStatus(h.deps as Runtime, h.config.sources[0]!)).details?.today.skippedRetention, old.length);
  });

  it('a destination that fails and recovers gets each detail event once, the other one is not held back', { timeout: 600_000 }, async () => {
    const h = await harness(doc({}, { pageSize: 500, start: new Date(T0 - HOUR).toISOString() }));
    await h.plan();
    await h.drain({ untilMs: h.clock.now() + 30_000 }); // the pages, not yet the details (they start a minute later)
    archive.failWith(503, 6);
    await runMinutes(h, 10);
    const failed = archive.requests.filter((r) => r.status === 503).length;
    assert.equal(failed, 6, 'the archive refused six batches');
    const qualifying = new Set(qualifyingTraceEvents(siem).map((e) => e.eventId));
    assert.ok(qualifying.size > 5);
    assert.equal(await assertDetailSets(siem, qualifying), qualifying.size);
    assert.equal(await assertDetailSets(archive, qualifying), qualifying.size, 'the archive got every set once after it recovered');
    assert.ok((await records(h)).every((r) => r.state === 'done'));
    assert.ok(h.telemetry.total('mtc.details.events', { destination: 'archive' }) > 0);
  });

  it('a destination parked past its backlog limit still gets every detail set: its backlog keeps them while it is parked, and its replay delivers each once', { timeout: 600_000 }, async () => {
    const d = doc({}, { start: new Date(T0 - HOUR).toISOString() }); // pages of 25 rows
    (d.destinations[1] as Record<string, unknown>).backlog = { maxPages: 10 };
    const h = await harness(d);
    const rt = h.deps as Runtime;
    const source = h.config.sources[0]!;
    archive.failWith(503, 1_000_000);
    await runMinutes(h, 40);
    const parked = (await sourceStatus(rt, source)).destinations.find((x) => x.id === 'archive')!;
    assert.equal(parked.state, 'parked', JSON.stringify(parked));
    const kept: { unit: string; enqueuedAt: number }[] = [];
    for await (const e of rt.backlog.listEntries('contoso', 'archive')) if (isDetailUnit(e.unit)) kept.push(e);
    assert.ok(kept.some((e) => e.enqueuedAt > Date.parse(parked.parkedAt!)), `detail sets were kept after the park (${kept.length} detail units)`);
    assert.ok(parked.missed && parked.missed.units > 0, 'pages were missed (not stored) while parked');
    assert.ok((await records(h)).every((r) => r.state === 'done'), 'every record is done: the parked destination holds nothing back');

    archive.failWith(0, 0);
    const replay = await replayDestination(rt, source, 'archive');
    assert.equal(replay.resumed, true);
    await runMinutes(h, 40);
    // The re-collection for the archive alone may read a row whose status changed since live
    // collection read it: that row version is new (its own record and detail set, for every
    // destination), though only the archive got its trace event.
    const qualifying = new Set([...qualifyingTraceEvents(siem), ...qualifyingTraceEvents(archive)].map((e) => e.eventId));
    assert.ok(qualifying.size > 5);
    const sets = await assertDetailSets(siem, qualifying);
    assert.ok(sets >= new Set(qualifyingTraceEvents(siem).map((e) => e.eventId)).size);
    assert.equal(await assertDetailSets(archive, qualifying), sets, 'the archive got every set once, the ones kept while it was parked from its backlog');
    const after = (await sourceStatus(rt, source)).destinations.find((x) => x.id === 'archive')!;
    assert.equal(after.state, 'ok', JSON.stringify(after));
    assert.ok(h.telemetry.total('mtc.details.events', { destination: 'archive' }) > 0, 'the drain counts detail events as detail events');
  });

  it('bad queue messages of kind detail are poison with a clear reason; a detail job the host gave up on parks its record, and a replay delivers it', { timeout: 300_000 }, async () => {
    assert.throws(() => decodeJob({ v: 1, kind: 'detail', sourceId: 'contoso' }), (err: unknown) => err instanceof JobSchemaError && /not a valid detail job: record: /.test(err.message));
    assert.throws(() => decodeJob({ v: 1, kind: 'detail', sourceId: 'contoso', record: 'a/b' }), /not a valid detail job: record: must be a valid Table row id/);
    assert.throws(() => decodeJob({ v: 1, kind: 'detalis', sourceId: 'contoso', record: 'x' }), /not a valid job: kind: is not a job kind this version knows/);
    const h = await harness(doc({}, { pageSize: 500, start: new Date(T0 - HOUR).toISOString() }));
    const poisonDeps = { ledger: h.ledger, storage: h.storage, clock: h.clock, log: h.log, telemetry: h.telemetry };
    assert.match(await handlePoisonMessage(poisonDeps, '{"v":1,"kind":"detail","sourceId":"contoso"}', 'bad-1'), /unattributed poison/);
    assert.match(await handlePoisonMessage(poisonDeps, JSON.stringify(detailJob('contoso', '000000000000001~nope~failed')), 'bad-2'), /unknown detail record/);
    const poison = await listUnattributedPoison(h);
    assert.ok(poison.some((p) => p.messageId === 'bad-1' && /not a valid detail job: record: /.test(p.reason)), JSON.stringify(poison));
    assert.ok(poison.some((p) => p.messageId === 'bad-2' && /^detail job for unknown detail record /.test(p.reason)));
    // A real record whose job the host gave up on: parked (poison), in status, and back after a replay.
    await h.plan();
    await h.drain({ untilMs: h.clock.now() + 30_000 });
    const victim = (await records(h)).find((r) => r.state === 'pending')!;
    assert.ok(victim, 'a pending record');
    assert.equal(await handlePoisonMessage(poisonDeps, JSON.stringify(detailJob('contoso', victim.key)), 'poisoned-1'), `parked detail record ${victim.key}`);
    await runMinutes(h, 5);
    const parked = (await records(h)).find((r) => r.key === victim.key)!;
    assert.equal(parked.state, 'parked');
    assert.equal(parked.parkReason, 'poison');
    const status = await sourceStatus(h.deps as Runtime, h.config.sources[0]!);
    assert.equal(status.details?.parked.count, 1);
    assert.equal(status.details?.parked.records[0]?.record, victim.key);
    const replayed = await replayParked(h.deps as Runtime, h.config.sources[0]!);
    assert.equal(replayed.detailsReplayed, 1);
    await runMinutes(h, 5);
    assert.equal((await records(h)).find((r) => r.key === victim.key)!.state, 'done');
    const qualifying = new Set(qualifyingTraceEvents(siem).map((e) => e.eventId));
    assert.equal(await assertDetailSets(siem, qualifying), qualifying.size, 'every qualifying row has its set, the replayed one too');
  });

  it('an answer in several parts (@odata.nextLink) is followed, each part one more budgeted request, and delivered whole', { timeout: 300_000 }, async () => {
    // The simulator answers in one part here; each first answer is made to point on to a second
    // part: the simulator's own continuation from the answer's second event (its $skiptoken is
    // base64 JSON of the next event's index), so the second part is the answer without its first event.
    const paging: HarnessInstrument = {
      storage: (x) => x,
      destination: (_id, d) => d,
      clients: (c) => ({
        ...c,
        api: new Proxy(c.api, {
          get(t, prop, receiver) {
            const value = Reflect.get(t, prop, receiver) as unknown;
            if (prop !== 'fetchDetails' || typeof value !== 'function') return value;
            return async (request: DetailRequest, opts?: { signal?: AbortSignal }) => {
              const answer = await (value as NonNullable<typeof c.api.fetchDetails>).call(t, request, opts);
              if (request.kind !== 'first') return answer;
              const url = (t as GraphMessageTraceClient).detailUrl(request.traceId, request.recipientAddress);
              const token = Buffer.from(JSON.stringify({ DetailIndex: 1 }), 'utf8').toString('base64');
              return { ...answer, nextLink: `${url}?$skiptoken=${encodeURIComponent(token)}` };
            };
          },
        }),
      }),
    };
    const h = await harness(doc({}, { pageSize: 500, start: new Date(T0 - HOUR).toISOString() }), 100, T0, paging);
    const rec = recordBudget(h.deps.budget!, () => h.clock.now());
    h.deps.budget = rec.gate;
    await runMinutes(h, 10);
    const qualifying = qualifyingTraceEvents(siem);
    assert.ok(qualifying.length > 5);
    const sets = detailSets(siem.events);
    for (const e of qualifying) {
      const set = sets.get(e.eventId)!;
      const part = await truth.details(e.row.id, e.row.recipientAddress, Date.parse(set[0]!.collectedAt));
      assert.ok(part.length > 1, 'the simulator answers with more than one event');
      assert.deepEqual(set.map((x) => x.detail), [...part, ...part.slice(1)], 'both parts, in order');
      assert.equal(set[0]!.detailCount, 2 * part.length - 1);
    }
    const answered = h.telemetry.total('mtc.details.requests', { status: '200' });
    assert.equal(answered, 2 * qualifying.length, 'two requests a row');
    const grants = rec.calls.filter((c) => c.priority === 'detail' && c.granted).length;
    assert.equal(grants, h.telemetry.total('mtc.details.requests'), 'every detail request had its own budget grant');
    assert.equal((await sourceStatus(h.deps as Runtime, h.config.sources[0]!)).details?.today.requests, h.telemetry.total('mtc.details.requests'), 'the cap counted both parts');
  });

  it('an answer too large for a Table property (10x a long one: 600K characters) waits in a blob the record points to, and is delivered whole', { timeout: 300_000 }, async () => {
    // Each answer made 600K characters long: the simulator's events, then 400 more with 1500 characters of data each.
    // Every time the archive is sent detail events, the records fetched and not done yet are inspected first.
    const hook: { inspect?: () => Promise<void> } = {};
    let inspected = 0;
    const big: HarnessInstrument = {
      storage: (x) => x,
      destination: (id, d) => (id !== 'archive' ? d : {
        ...d,
        send: async (events, ctx) => {
          if (hook.inspect && events.some(isDetailEvent)) await hook.inspect();
          return d.send(events, ctx);
        },
      }),
      clients: (c) => ({
        ...c,
        api: new Proxy(c.api, {
          get(t, prop, receiver) {
            const value = Reflect.get(t, prop, receiver) as unknown;
            if (prop !== 'fetchDetails' || typeof value !== 'function') return value;
            return async (request: DetailRequest, opts?: { signal?: AbortSignal }) => {
              const answer = await (value as NonNullable<typeof c.api.fetchDetails>).call(t, request, opts);
              const filler = Array.from({ length: 400 }, (_, i) => ({ ...answer.details[0]!, event: 'Transport rule', description: `rule ${i}`, data: `<root><MEP Name="Rule" String="${'x'.repeat(1450)}"/></root>` }));
              return { ...answer, details: [...answer.details, ...filler] };
            };
          },
        }),
      }),
    };
    const h = await harness(doc({ statuses: ['failed'] }, { pageSize: 1000, start: new Date(T0 - 30 * MINUTE).toISOString() }), 100, T0, big);
    const store = (h.deps as Runtime).details;
    hook.inspect = async () => {
      const waiting = (await records(h)).filter((r) => r.fetchedAt > 0 && r.state !== 'done');
      for (const r of waiting) {
        assert.ok(r.payloadBlob, `record ${r.key} points to a blob`);
        const raw = await store.table.getEntity<Record<string, unknown>>('contoso', r.key);
        const longest = Math.max(...Object.values(raw).map((v) => (typeof v === 'string' ? v.length : 0)));
        assert.ok(longest < 30_000, `every property of the record is bounded (${longest} characters)`);
        assert.equal((await store.get('contoso', r.key))!.answer!.length, r.eventCount);
        assert.ok(r.eventCount > 400);
        inspected++;
      }
    };
    await h.plan();
    await h.drain({ untilMs: h.clock.now() + 30_000 }); // the pages (the details start a minute after them)
    archive.failWith(503, 1_000_000); // then the archive is down: every set waits in its backlog
    await h.drain({ untilMs: h.clock.now() + 3 * MINUTE });
    assert.ok(inspected > 0, 'answers were fetched and inspected before their first send');
    archive.failWith(0, 0);
    await runMinutes(h, 30);
    const qualifying = qualifyingTraceEvents(archive).filter((e) => e.row.status === 'failed');
    const sets = detailSets(archive.events);
    for (const e of qualifying) {
      const set = sets.get(e.eventId)!;
      assert.equal(set.length, set[0]!.detailCount);
      assert.ok(set.length > 400);
      assert.equal(new Set(set.map((x) => x.eventId)).size, set.length);
    }
    assert.ok((await records(h)).every((r) => r.state === 'done' && !r.payloadBlob), 'done records keep no blob');
    let blobs = 0;
    for await (const _ of store.container.listBlobsFlat()) blobs++;
    assert.equal(blobs, 0, 'the blobs are deleted once their records are done');
  });
});
