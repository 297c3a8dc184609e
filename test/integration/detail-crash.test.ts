/**
 * Crash at every step of detail enrichment (issue 17): for each storage and network call site of
 * admission (shared/details/admission.ts, in the page worker's commit stage) and of the detail job
 * (shared/details/*), a run is killed right before the call takes effect and, separately, right
 * after it; a new process (same Azurite state, the jobs redelivered) finishes the work. After each
 * restart every qualifying row has its detail set, equal to the simulator's answer, once in each
 * destination except the detail events a destination acknowledged in the batch the process died
 * before recording; no detail record is left unfinished or parked. The crash-at-every-step test of
 * the page worker (crash-every-step.test.ts) runs with details off; this one covers their sites.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator, SimulatorOptions } from '../../simulator';
import { isDetailEvent, rowKey, type TraceEvent } from '../../shared/model/row';
import type { Harness } from '../support/worker-harness';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { startReceiver, type Receiver } from '../support/receiver';
import { crashPoints, crashProcess, crashReport, CrashSwitch, restartAfterKill, runCrashMatrix } from '../support/crash-points';
import { DetailTruth } from '../support/details-truth';
import type { Runtime } from '../../shared/runtime';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 24, 8, 0, 0);
const QUALIFYING = new Set(['failed', 'quarantined', 'filteredasspam']);
/** Queue sends and budget calls are named by the detail code that makes them (JobQueue and TenantBudget are adapters here). */
const ADAPTERS = /[\\/](queue[\\/]jobs|budget[\\/]tenant-budget)\.js$/;
const SIM: Omit<SimulatorOptions, 'https' | 'clock'> = { seed: 47, tenants: [{ rowsPerDay: 2_400, traffic: { visibilityDelay: { minMs: 0, maxMs: 0 } } }] };

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

const doc = () => ({
  sources: [{
    id: 'contoso', ...simulatorTenant(sim, 0), start: new Date(T0 - HOUR).toISOString(), collectionDelay: '5m', sliceLength: '1h', pageSize: 40,
    settle: { rereads: [] }, destinations: ['siem', 'archive'], details: { enabled: true },
  }],
  destinations: [
    // One event a batch: a kill can fall between two acknowledged detail events of one row.
    { id: 'siem', type: 'http', url: siem.url, allowInsecureLoopback: true, maxBatchRecords: 1 },
    { id: 'archive', type: 'http', url: archive.url, allowInsecureLoopback: true },
  ],
});

async function startProcess(sw: CrashSwitch | undefined, attach?: Harness, startAt = T0): Promise<Harness> {
  const h = await crashProcess({ doc: doc(), env: { SIM_SECRET: sim.tenants[0]!.clientSecret }, tenantId: sim.tenants[0]!.tenantId, sw, attach, startAt });
  current = h;
  return h;
}

async function work(h: Harness): Promise<void> {
  await h.plan();
  await h.drain();
  h.clock.advance(2 * MINUTE);
  await h.plan();
  await h.drain();
}

async function unfinished(h: Harness): Promise<number> {
  let n = 0;
  for await (const r of (h.deps as Runtime).details.listRange('contoso', 0, T0 + HOUR)) if (r.state !== 'done') n++;
  return n;
}

function recover(dead: Harness): Promise<Harness> {
  return restartAfterKill(dead, {
    start: (at) => startProcess(undefined, dead, at),
    step: async (h) => {
      await h.plan();
      await h.drain();
    },
    done: async (h) => (await unfinished(h)) === 0,
    // A job lost with the process: the detail sweep re-sends it after 30 minutes.
    retries: 3,
  });
}

interface Verdict { rows: number; lost: number; duplicated: number; excused: number; wrong: number; unfinished: number }

async function verdict(h: Harness, excused: Set<string>): Promise<Verdict> {
  const v: Verdict = { rows: 0, lost: 0, duplicated: 0, excused: 0, wrong: 0, unfinished: await unfinished(h) };
  const rows = new Map<string, TraceEvent>();
  for (const e of siem.events) if (!isDetailEvent(e) && QUALIFYING.has(String(e.row.status).toLowerCase())) rows.set(e.eventId, e);
  v.rows = rows.size;
  for (const r of [siem, archive]) {
    const byRow = new Map<string, TraceEvent[]>();
    for (const e of r.events) if (isDetailEvent(e)) byRow.set(e.traceEventId, [...(byRow.get(e.traceEventId) ?? []), e]);
    for (const [id, row] of rows) {
      const got = byRow.get(id) ?? [];
      const expected = await truth.details(row.row.id, row.row.recipientAddress, got[0] ? Date.parse(got[0].collectedAt) : h.clock.now());
      const distinct = new Map(got.map((e) => [e.eventId, e]));
      if (distinct.size < expected.length || !got.length) v.lost++;
      const set = [...distinct.values()].sort((a, b) => Number(a.detailIndex) - Number(b.detailIndex)).map((e) => e.detail);
      if (got.length && JSON.stringify(set) !== JSON.stringify(expected)) v.wrong++;
      const copies = got.length - distinct.size;
      if (copies > 0) {
        if (excused.has(rowKey(row.tenantId, row.row))) v.excused += copies;
        else v.duplicated += copies;
      }
    }
  }
  return v;
}

describe('detail enrichment: crash at every step', () => {
  it('a kill before or after any storage or network call of admission or of a detail job loses no detail set and repeats only the acknowledged, unrecorded batch', { timeout: 1_200_000 }, async () => {
    siem.events.length = 0;
    archive.events.length = 0;
    const reference = new CrashSwitch(undefined, { adapters: ADAPTERS });
    const ref = await startProcess(reference);
    await work(ref);
    const base = await verdict(ref, new Set());
    assert.deepEqual([base.lost, base.duplicated, base.wrong, base.unfinished], [0, 0, 0, 0], `the reference run itself: ${JSON.stringify(base)}`);
    assert.ok(base.rows >= 5, `qualifying rows: ${base.rows}`);
    const sites = [...reference.sites.keys()].filter((s) => /\(details\/|api\.fetchDetails|\) detail /.test(s)).sort();
    assert.ok(sites.length >= 12, `detail call sites found: ${sites.join('\n')}`);
    assert.ok(sites.some((s) => s.includes('admitDetails')) && sites.some((s) => s.includes('api.fetchDetails')) && sites.some((s) => s.includes(') detail <- ')), sites.join('\n'));

    const rows = await runCrashMatrix({
      points: crashPoints(reference, sites),
      switchOptions: { adapters: ADAPTERS },
      reset: () => {
        siem.events.length = 0;
        archive.events.length = 0;
      },
      start: (sw) => startProcess(sw),
      run: work,
      recover,
      verdict,
    });
    console.log(crashReport('detail crash at every step', rows, (r, width) => `${r.site.padEnd(width)}  ${r.mode.padEnd(6)}  ${String(r.killed).padEnd(6)}  ${String(r.v.rows).padStart(4)}  ${String(r.v.lost).padStart(4)}  ${String(r.v.duplicated).padStart(10)}  ${String(r.v.excused).padStart(12)}  ${String(r.v.wrong).padStart(5)}  ${String(r.v.unfinished).padStart(10)}`,
      (width) => `${'call site'.padEnd(width)}  mode    killed  rows  lost  duplicated  (ack window)  wrong  unfinished`));
    for (const r of rows) {
      assert.ok(r.killed, `the run armed at ${r.site} (${r.mode}) reached it`);
      assert.deepEqual([r.v.lost, r.v.duplicated, r.v.wrong, r.v.unfinished], [0, 0, 0, 0], `${r.site} (${r.mode}): ${JSON.stringify(r.v)}`);
      // A recovery that ran the planner later collected newer rows too (and their details).
      assert.ok(r.v.rows >= base.rows, `${r.site} (${r.mode}): every qualifying row was collected`);
    }
  });
});
