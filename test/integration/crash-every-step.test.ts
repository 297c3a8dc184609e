/**
 * Crash at every step (issue 13): for each storage and network call site the planner, the
 * recovery pass and the page worker reach, a run is killed right before the call takes effect and,
 * separately, right after it did; a new process (same Azurite state, the jobs redelivered) then
 * finishes the work. After each restart the invariants must hold: every row of the collected range
 * delivered to each destination, no row twice except those a destination acknowledged in the
 * batch the process died before recording, no parked slice, and the watermark at the end.
 * One destination ("archive") refuses its first requests, so its pages go through its backlog and
 * its drain (shared/delivery): those call sites are killed in turn too.
 * A table of the sites, runs, lost and duplicated rows is printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { rowKey } from '../../shared/model/row';
import type { Harness } from '../support/worker-harness';
import { startReceiver, type Receiver } from '../support/receiver';
import { CrashError, crashPoints, crashProcess, crashReport, CrashSwitch, restartAfterKill, runCrashMatrix } from '../support/crash-points';
import { startBackfill } from '../../shared/backfill';
import { runProgress } from '../../shared/backfill-runs';
import { runStore } from '../../shared/state/runs';
import { PageStore } from '../../shared/worker/page-store';

/** Every backfill run of the source with its progress (state 'done' once all its slices are). */
async function listRuns(h: Harness) {
  const runs = await runStore(h.ledger).listRuns('contoso');
  return Promise.all(runs.map((r) => runProgress(h.deps, r)));
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 22, 8, 0, 0);
const START = T0 - 2 * HOUR;

let sim: Simulator;
let siem: Receiver;
let archive: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 23,
    tenants: [{
      rowsPerDay: 4_800,
      traffic: {
        // A few distribution-list mails: pages end inside bursts of rows at one instant.
        recipientsPerMessage: { single: 0.8, few: 0.1, many: 0.1, fewMax: 5, manyMin: 30, manyMax: 60 },
        visibilityDelay: { minMs: 0, maxMs: 0 },
      },
    }, {
      // Rows that show up late inside an already-read window, and statuses that change after a row appears.
      rowsPerDay: 20_000,
      traffic: {
        visibilityDelay: { minMs: 0, maxMs: 40 * MINUTE, distribution: 'uniform' },
        transient: { fraction: 0.4, minDelayMs: 5 * MINUTE, maxDelayMs: 30 * MINUTE },
      },
    }],
  }, () => current?.clock.now() ?? T0);
  siem = await startReceiver();
  archive = await startReceiver();
});
after(async () => {
  await sim?.stop();
  await siem?.close();
  await archive?.close();
});

function doc(tenant = 0) {
  return {
    sources: [{
      id: 'contoso',
      ...simulatorTenant(sim, tenant),
      ...(tenant === 0
        ? { start: new Date(START).toISOString(), collectionDelay: '5m' }
        // One recent slice: its newest page is the one late rows and status changes alter most.
        : { start: new Date(T0 - 30 * MINUTE).toISOString(), collectionDelay: '1m' }),
      sliceLength: '1h', pageSize: 60,
      settle: { rereads: [] },
      destinations: ['siem', 'archive'],
    }],
    destinations: [
      { id: 'siem', type: 'http', url: siem.url, allowInsecureLoopback: true, maxBatchRecords: 25 },
      { id: 'archive', type: 'http', url: archive.url, allowInsecureLoopback: true },
    ],
  };
}

async function startProcess(sw: CrashSwitch | undefined, attach?: Harness, startAt = T0, tenant = 0): Promise<Harness> {
  const h = await crashProcess({ doc: doc(tenant), env: { SIM_SECRET: sim.tenants[tenant]!.clientSecret }, tenantId: sim.tenants[tenant]!.tenantId, sw, attach, startAt });
  current = h;
  return h;
}

/** The backfill every run asks for: the hour before live collection starts. */
const BACKFILL = { start: new Date(START - HOUR).toISOString(), end: new Date(START).toISOString() };

/** Requests the "archive" destination refuses at the start of each run: its pages wait in its backlog, its drain fails once, then delivers. */
const ARCHIVE_FAILURES = 2;

/** Processes whose backfill request got its answer (the client retries only an unanswered one). */
const answered = new WeakSet<Harness>();

async function askBackfill(h: Harness): Promise<number> {
  const status = (await startBackfill(h.deps, 'contoso', BACKFILL, (id) => `/runs/${id}`)).status;
  answered.add(h);
  return status;
}

/** The work of one process: a planner tick, a backfill request, a second tick after a live interval, and their jobs. */
async function work(h: Harness): Promise<void> {
  await h.plan();
  await h.drain();
  const status = await askBackfill(h);
  if (status !== 202) throw new Error(`the backfill request answered ${status}`);
  await h.drain();
  // Past the recovery sweep's interval (15 min), so the second tick's sweep runs in every process
  // whatever its table prefix staggers it to: its call sites are reached in every run.
  h.clock.advance(16 * MINUTE);
  await h.plan();
  await h.drain();
}

/** After a crash: a new process on the same state, with time for claims, outboxes and lost jobs to come due. */
function recover(dead: Harness): Promise<Harness> {
  return restartAfterKill(dead, {
    start: async (at) => {
      const h = await startProcess(undefined, dead, at);
      // A client whose backfill request died with the process (no answer) asks again: admitted now
      // (202) or already admitted before the kill (409: recovery finishes that run).
      if (!answered.has(dead)) {
        const again = await askBackfill(h);
        if (again !== 202 && again !== 409) throw new Error(`the repeated backfill request answered ${again}`);
      }
      return h;
    },
    step: async (h) => {
      await h.plan();
      await h.drain();
    },
    done: finished,
    // A job lost with the process is re-enqueued after STALE_SLICE_MS.
    slow: async (h) => {
      if (process.env.MTC_CRASH_VERBOSE) console.log(`not finished at once: ${await unfinished(h)}\noutcomes ${JSON.stringify(h.outcomes)}\nlog ${JSON.stringify(h.log.lines.filter((l) => /drain|behind|lag/.test(l.message)).slice(0, 20))}`);
      slowRecoveries.add(h);
    },
  });
}

/** Processes that finished only after the 31-minute advance (a lost job re-enqueued by the sweep). */
const slowRecoveries = new WeakSet<Harness>();

/** What is not finished yet (debugging). */
async function unfinished(h: Harness): Promise<string> {
  const cursor = await h.ledger.getCursor('contoso');
  const health = await h.ledger.getHealth('contoso');
  const open: string[] = [];
  for await (const s of h.ledger.listSlices('contoso')) if (s.state !== 'done') open.push(`${s.id} ${s.state} p${s.page} upd ${new Date(s.updatedAt).toISOString()}`);
  const dests = await Promise.all(['siem', 'archive'].map(async (d) => JSON.stringify(await h.deps.backlog.getProgress('contoso', d))));
  return JSON.stringify({ pending: cursor?.pending.length, completedUntil: health?.completedUntil, scheduledUntil: cursor?.scheduledUntil, runs: (await listRuns(h)).map((r) => r.state), open, dests, now: new Date(h.clock.now()).toISOString() });
}

/** Whether every planned slice is done and the watermark is at the cursor. */
async function finished(h: Harness): Promise<boolean> {
  const cursor = await h.ledger.getCursor('contoso');
  const health = await h.ledger.getHealth('contoso');
  if (!cursor || cursor.pending.length || health?.completedUntil !== cursor.scheduledUntil) return false;
  // The backfill every run asks for: admitted, its run row written and all its slices done.
  const runs = await listRuns(h);
  if (runs.length !== 1 || runs[0]!.state !== 'done') return false;
  for await (const s of h.ledger.listSlices('contoso')) if (s.state !== 'done') return false;
  // Every destination caught up: nothing waits in a backlog.
  for (const d of ['siem', 'archive']) if (((await h.deps.backlog.getProgress('contoso', d))?.state ?? 'ok') !== 'ok') return false;
  return true;
}

interface Verdict { lost: number; duplicated: number; excused: number; watermarkOk: boolean; parked: number }

async function verdict(h: Harness, excused: Set<string>): Promise<Verdict> {
  const t = sim.tenants[0]!.tenantId;
  const health = await h.ledger.getHealth('contoso');
  const until = health?.completedUntil ?? 0;
  const cursor = await h.ledger.getCursor('contoso');
  const expected = new Set([
    ...sim.groundTruth(t, START - HOUR, START, { asOf: h.clock.now() }),
    ...sim.groundTruth(t, START, until, { asOf: h.clock.now() }),
  ].map((r) => rowKey(t, r)));
  let lost = 0, duplicated = 0, excusedCopies = 0;
  for (const r of [siem, archive]) {
    const count = new Map<string, number>();
    for (const e of r.events) count.set(rowKey(e.tenantId, e.row), (count.get(rowKey(e.tenantId, e.row)) ?? 0) + 1);
    for (const k of expected) if (!count.has(k)) lost++;
    for (const [k, n] of count) {
      if (!expected.has(k)) lost++; // a row outside the watermark's range is a hole in the checks, count it
      if (n > 1) {
        if (excused.has(k) && n === 2) excusedCopies++;
        else duplicated += n - 1;
      }
    }
  }
  let parked = 0;
  for await (const _ of h.ledger.listSlices('contoso', { state: 'parked' })) parked++;
  const runs = await listRuns(h);
  const backfillDone = runs.length === 1 && runs[0]!.state === 'done' && runs[0]!.parked === 0;
  return { lost, duplicated, excused: excusedCopies, watermarkOk: until > 0 && until === cursor?.scheduledUntil && backfillDone, parked };
}

describe('crash at every step', () => {
  it('a kill before or after any storage or network call loses nothing and duplicates only the acknowledged, unrecorded batch', { timeout: 1_200_000 }, async () => {
    // The reference run: every call site this work reaches.
    siem.events.length = 0;
    archive.events.length = 0;
    archive.failWith(503, ARCHIVE_FAILURES);
    const reference = new CrashSwitch();
    const ref = await startProcess(reference);
    await work(ref);
    const base = await verdict(ref, new Set());
    assert.deepEqual([base.lost, base.duplicated, base.parked, base.watermarkOk], [0, 0, 0, true], `the reference run itself: ${JSON.stringify(base)}`);
    assert.ok(siem.events.length > 200, `enough rows to cross pages and batches (${siem.events.length})`);
    assert.ok([...reference.sites.keys()].some((k) => k.includes('delivery/drain')) && [...reference.sites.keys()].some((k) => k.includes('delivery/hand-off')), `the backlog and its drain were reached: ${[...reference.sites.keys()].join('\n')}`);
    const sites = [...reference.sites.keys()].sort();
    assert.ok(sites.length >= 20, `call sites found: ${sites.join('\n')}`);

    // MTC_CRASH_ONLY=<text>: only the sites whose name contains it (debugging one site).
    const rows = await runCrashMatrix({
      points: crashPoints(reference, sites),
      reset: () => {
        siem.events.length = 0;
        archive.events.length = 0;
        archive.failWith(503, ARCHIVE_FAILURES);
      },
      start: (sw) => startProcess(sw),
      run: work,
      recover,
      // Whether the recovery needed the 31-minute advance, beside the verdict.
      verdict: async (h, excused) => ({ ...await verdict(h, excused), slow: slowRecoveries.has(h) }),
    });
    console.log(crashReport('crash at every step', rows, (r, width) => `${r.site.padEnd(width)}  ${r.mode.padEnd(6)}  ${String(r.killed).padEnd(6)}  ${String(r.v.lost).padStart(4)}  ${String(r.v.duplicated).padStart(10)}  ${String(r.v.excused).padStart(12)}  ${r.v.watermarkOk ? 'end' : 'SHORT'}        ${r.v.parked}  ${r.v.slow ? 'after 31 min' : 'at once'}`,
      (width) => `${'call site'.padEnd(width)}  mode    killed  lost  duplicated  (ack window)  watermark  parked  recovery`));
    for (const r of rows) {
      assert.ok(r.killed, `the run armed at ${r.site} (${r.mode}) reached it`);
      // A kill in a destination's hand-off or drain is recovered by the jobs the kill left behind
      // (the redelivered page job queues a drain no one queued), not only by the 15-minute sweep:
      // a destination must not wait unseen behind a lagging progress row with no drain coming.
      if (/delivery\//.test(r.site)) assert.ok(!r.v.slow, `${r.site} (${r.mode}): the backlog drained only after the 31-minute advance (no drain job was left to run)`);
      assert.deepEqual([r.v.lost, r.v.duplicated, r.v.parked, r.v.watermarkOk], [0, 0, 0, true], `${r.site} (${r.mode}): ${JSON.stringify(r.v)}`);
    }
  });

  // A small page's copy rides in the slice row, a large one's in the page store (page-store.ts): both are resumed.
  for (const where of ['the slice row', 'the page store'] as const) {
  it(`a page resumed after a kill mid-delivery is the copy the first destination got, though the API now answers differently (its copy in ${where})`, async () => {
    siem.events.length = 0;
    archive.events.length = 0;
    archive.failWith(0, 0);
    // Killed when "siem" acknowledged its second batch of the page, its first one recorded.
    const sw = new CrashSwitch({ site: 'destination.ack(siem) <- deliverInOrder (destinations/destination)', mode: 'before', hit: 2 });
    const first = await startProcess(sw, undefined, T0, 1);
    // Every copy to the page store (a page larger than the row keeps), or the default.
    if (where === 'the page store') first.deps.inlineCopyMaxChars = 0;
    await first.plan().catch((err: unknown) => { if (!(err instanceof CrashError)) throw err; });
    await first.drain().catch((err: unknown) => { if (!(err instanceof CrashError)) throw err; });
    assert.ok(sw.dead, 'the run was killed mid-delivery');
    assert.ok(siem.events.length >= 50, `siem had two batches of the page: ${siem.events.length}`);
    const t = sim.tenants[1]!.tenantId;
    const atKill = sim.groundTruth(t, T0 - 30 * MINUTE, T0, { asOf: first.clock.now(), onlyVisible: true }).length;
    // 40 minutes later late rows have appeared inside the window and statuses have changed.
    await first.releaseInFlight();
    const second = await startProcess(undefined, first, first.clock.now() + 40 * MINUTE, 1);
    if (where === 'the page store') second.deps.inlineCopyMaxChars = 0;
    // Where the dead process left the page's copy.
    const open = [];
    for await (const s of second.ledger.listSlices('contoso')) if (s.state === 'fetching') open.push(s);
    assert.equal(open.length, 1, 'one slice was mid-delivery');
    const stored = [];
    for await (const e of second.storage.table(PageStore.tableName(second.prefix)).listEntities()) stored.push(e);
    if (where === 'the slice row') {
      assert.ok(open[0]!.copy && open[0]!.copyPage === open[0]!.page, 'the copy is in the slice row');
      assert.equal(stored.length, 0, 'and not in the page store');
    } else {
      assert.equal(open[0]!.copy, undefined, 'no copy in the slice row');
      assert.equal(stored.length, 1, 'the copy is in the page store');
    }
    assert.ok(sim.groundTruth(t, T0 - 30 * MINUTE, T0, { asOf: second.clock.now(), onlyVisible: true }).length > atKill, 'the API answers the same window with more rows now');
    await second.plan();
    await second.drain();
    const ids = (r: Receiver) => r.events.map((e) => e.eventId);
    if (globalThis.process.env.MTC_CRASH_VERBOSE) console.log('siem', siem.events.length, 'archive', archive.events.length, 'excused', [...sw.unrecorded.values()].flat().length, 'atKill', atKill, 'killed at', sw.killedAt, JSON.stringify(second.outcomes));
    const a = new Set(ids(archive));
    assert.ok(siem.events.length > 0 && archive.events.length > 0);
    // Both destinations got the very same events (same rows, same statuses) for every page.
    assert.deepEqual([...new Set(ids(siem))].sort(), [...a].sort(), 'siem and archive received different events for the same pages');
    // Both destinations are sent the page at once, so each may hold a batch it acknowledged that the
    // dead process never recorded: only those rows may repeat, for each destination.
    for (const [name, r] of [['siem', siem], ['archive', archive]] as const) {
      const acked = new Set(sw.unrecordedFor(name));
      const seen = new Map<string, number>();
      for (const e of r.events) seen.set(e.eventId, (seen.get(e.eventId) ?? 0) + 1);
      for (const e of r.events) {
        if ((seen.get(e.eventId) ?? 0) > 1) assert.ok(acked.has(rowKey(e.tenantId, e.row)), `${name} got ${e.eventId} twice; only its acknowledged-unrecorded rows may repeat`);
      }
    }
  });
  }
});
