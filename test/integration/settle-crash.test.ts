/**
 * Crash at every step of settle (issue 19 follow-up: the seen-store's writes had no crash test):
 * a timer run that plans a settle re-read beside a live slice, and their page jobs, killed before
 * and after every storage and network call of the settle path (the seen-store records the live
 * pages write, the re-read's reads, comparison and writes, and the planning of the re-read). A
 * new process then finishes the work. Nothing the reads saw may be lost, and no event (a row with
 * its status) may arrive twice except the rows of a batch a destination acknowledged that the dead
 * process never recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { rowKey } from '../../shared/model/row';
import type { Harness } from '../support/worker-harness';
import { startReceiver, type Receiver } from '../support/receiver';
import { crashPoints, crashProcess, crashReport, CrashSwitch, restartAfterKill, runCrashMatrix } from '../support/crash-points';
import { forkState, snapshotState } from '../support/state-fork';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 11, 3, 10, 0, 0);
/** One settle bucket before T0, read live at PREPARED (its last 40 minutes hold late rows and changing statuses then). */
const START = T0 - HOUR;
const PREPARED = T0 + 2 * MINUTE;
/** When the crash phase runs: the bucket's re-read (+1 h after its live read) is due. */
const PHASE = T0 + 65 * MINUTE;

let sim: Simulator;
let siem: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 53,
    tenants: [{
      rowsPerDay: 4_800,
      traffic: {
        // Late rows inside already-read windows, and statuses that change after a row appears.
        visibilityDelay: { minMs: 0, maxMs: 40 * MINUTE, distribution: 'uniform' },
        transient: { fraction: 0.4, minDelayMs: 5 * MINUTE, maxDelayMs: 30 * MINUTE },
        recipientsPerMessage: { single: 0.8, few: 0.15, many: 0.05, fewMax: 5, manyMin: 20, manyMax: 40 },
      },
    }],
  }, () => current?.clock.now() ?? T0);
  siem = await startReceiver();
});
after(async () => {
  await sim?.stop();
  await siem?.close();
});

function doc() {
  return {
    sources: [{
      id: 'settling', ...simulatorTenant(sim, 0),
      start: new Date(START).toISOString(), collectionDelay: '1m', sliceLength: '1h', pageSize: 60,
      settle: { rereads: ['1h'], bucket: '1h' },
      destinations: ['siem'],
    }],
    destinations: [{ id: 'siem', type: 'http', url: siem.url, allowInsecureLoopback: true, maxBatchRecords: 25 }],
  };
}

async function startProcess(sw: CrashSwitch | undefined, attach?: Pick<Harness, 'prefix' | 'queueName'>, startAt = T0): Promise<Harness> {
  const h = await crashProcess({ doc: doc(), env: { SIM_SECRET: sim.tenants[0]!.clientSecret }, tenantId: sim.tenants[0]!.tenantId, sw, attach, startAt });
  current = h;
  return h;
}

/** The live catch-up at PREPARED (its seen-store records written), then the clock at PHASE. */
async function prepare(): Promise<Harness> {
  const h = await startProcess(undefined, undefined, PREPARED);
  await h.plan();
  await h.drain();
  h.clock.set(PHASE);
  return h;
}

/** The crash phase: a timer run (a live slice and the bucket's re-read) and its jobs. */
async function phase(h: Harness): Promise<void> {
  await h.plan();
  await h.drain();
}

async function finished(h: Harness): Promise<boolean> {
  const cursor = await h.ledger.getCursor('settling');
  const health = await h.ledger.getHealth('settling');
  if (!cursor || cursor.pending.length || health?.completedUntil !== cursor.scheduledUntil) return false;
  for await (const s of h.ledger.listSlices('settling')) if (s.state !== 'done') return false;
  return true;
}

function recover(dead: Harness): Promise<Harness> {
  return restartAfterKill(dead, { start: (at) => startProcess(undefined, dead, at), step: phase, done: finished });
}

interface Verdict { lost: number; duplicated: number; excused: number; parked: number; rereadDone: boolean; finished: boolean }

/**
 * What the reads must have delivered: the bucket as its re-read at PHASE saw it, the minute after it
 * as the live read at PREPARED saw it, and the crash phase's live slice as it saw it at PHASE. A
 * later read (after a kill) may see more; that is not counted.
 */
function expectedKeys(): Set<string> {
  const t = sim.tenants[0]!.tenantId;
  const rows = [
    ...sim.groundTruth(t, START, T0, { asOf: PHASE, onlyVisible: true }),
    ...sim.groundTruth(t, T0, PREPARED - MINUTE, { asOf: PREPARED, onlyVisible: true }),
    ...sim.groundTruth(t, PREPARED - MINUTE, PHASE - MINUTE, { asOf: PHASE, onlyVisible: true }),
  ];
  return new Set(rows.map((r) => rowKey(t, r)));
}

async function verdict(h: Harness, excused: Set<string>): Promise<Verdict> {
  const delivered = new Set(siem.events.map((e) => rowKey(e.tenantId, e.row)));
  let lost = 0;
  for (const k of expectedKeys()) if (!delivered.has(k)) lost++;
  // An event is a row with its status (eventId): the same one twice is a duplicate.
  const byEvent = new Map<string, { n: number; key: string }>();
  for (const e of siem.events) {
    const x = byEvent.get(e.eventId) ?? { n: 0, key: rowKey(e.tenantId, e.row) };
    x.n++;
    byEvent.set(e.eventId, x);
  }
  let duplicated = 0, excusedCopies = 0;
  for (const { n, key } of byEvent.values()) {
    if (n < 2) continue;
    if (excused.has(key) && n === 2) excusedCopies++;
    else duplicated += n - 1;
  }
  let parked = 0, rereadDone = false;
  for await (const s of h.ledger.listSlices('settling')) {
    if (s.state === 'parked') parked++;
    if (s.kind === 'rescan' && s.state === 'done' && s.startMs === START) rereadDone = true;
  }
  return { lost, duplicated, excused: excusedCopies, parked, rereadDone, finished: await finished(h) };
}

describe('settle crash at every step', () => {
  it('a kill before or after any call of a run with a settle re-read loses nothing the reads saw and repeats no event but the acknowledged, unrecorded batch', { timeout: 900_000 }, async () => {
    siem.events.length = 0;
    const reference = new CrashSwitch();
    // The prepared state is taken once; the reference run and every run of the matrix start from a
    // copy of it (test/support/state-fork.ts), the receiver holding what the preparation delivered.
    const prepared = await snapshotState(await prepare(), [siem]);
    const ref = await startProcess(reference, await forkState(prepared), PHASE);
    await phase(ref);
    const base = await verdict(ref, new Set());
    assert.deepEqual(base, { lost: 0, duplicated: 0, excused: 0, parked: 0, rereadDone: true, finished: true }, 'the reference run itself');
    assert.ok(siem.events.some((e) => e.collectedBy === 'rescan'), 'the re-read delivered late rows or status changes');
    // Every site of the run: the seen-store (its records are written by live and re-read pages
    // alike, named by the stage that calls it), the re-read's planning and its pages, the settled mark.
    const sites = [...reference.sites.keys()].sort();
    for (const stage of ['advanceSettled', 'loadSeenCached', 'upsertEntity <- learnPage']) assert.ok(sites.some((s) => s.includes(stage)), `${stage} is reached: ${sites.join('\n')}`);

    // Each site at its first call, and at its last where the run calls it more than once (the
    // seen-store write of the re-read's last page, not only of the first page to commit).
    const rows = await runCrashMatrix({
      points: crashPoints(reference, sites, { lastHits: true }),
      reset: () => { siem.events.length = 0; },
      start: async (sw) => startProcess(sw, await forkState(prepared), PHASE),
      run: phase,
      recover,
      verdict,
    });
    console.log(crashReport('settle crash at every step', rows));
    for (const r of rows) {
      assert.ok(r.killed, `the run armed at ${r.site} #${r.hit} (${r.mode}) reached it`);
      assert.deepEqual([r.v.lost, r.v.duplicated, r.v.parked, r.v.rereadDone, r.v.finished], [0, 0, 0, true, true], `${r.site} #${r.hit} (${r.mode}): ${JSON.stringify(r.v)}`);
    }
  });
});
