/**
 * Page batches end to end (issue 19), on Azurite and the simulator: three quiet tenants whose
 * second timer run puts their live slices' first page jobs in one message; every row delivered
 * once; a batch the host gives up on parks each entry's slice; and a kill before or after every
 * storage and network call of that run and its batch loses no row and repeats only the rows a
 * destination acknowledged in a batch the dead process never recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { rowKey } from '../../shared/model/row';
import type { Harness } from '../support/worker-harness';
import { startReceiver, type Receiver } from '../support/receiver';
import { crashPoints, crashProcess, crashReport, CrashSwitch, restartAfterKill, runCrashMatrix } from '../support/crash-points';
import { decodeJob, encodeJob, isPageBatch, pageBatchJob, pageJob, type QueueJob } from '../../shared/queue/jobs';
import { handlePoisonMessage } from '../../shared/worker/poison';
import { forkState, snapshotState, type StateSnapshot } from '../support/state-fork';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
const START = T0 - 10 * MINUTE;
const TENANTS = 3;

let sim: Simulator;
let siem: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 41,
    tenants: Array.from({ length: TENANTS }, () => ({
      rowsPerDay: 6_000,
      // Distribution-list mails: a quiet tenant's few rows come in bursts at one instant.
      traffic: { recipientsPerMessage: { single: 0.7, few: 0.2, many: 0.1, fewMax: 5, manyMin: 20, manyMax: 40 }, visibilityDelay: { minMs: 0, maxMs: 0 } },
    })),
  }, () => current?.clock.now() ?? T0);
  siem = await startReceiver();
});
after(async () => {
  await sim?.stop();
  await siem?.close();
});

/** A test's own sliceLength for every source (the catch-up test), else the default. */
let sliceLength: string | undefined;

function doc() {
  return {
    sources: sim.tenants.map((_, i) => ({
      id: `s${i}`,
      ...simulatorTenant(sim, i),
      ...(sliceLength ? { sliceLength } : {}),
      auth: { method: 'clientSecret', clientId: sim.tenants[i]!.clientId, clientSecretRef: `env:SIM_SECRET_${i}` },
      start: new Date(START).toISOString(), collectionDelay: '1m',
      settle: { rereads: [] },
      destinations: ['siem'],
    })),
    // Small batches: a page's rows go in several acknowledged requests, so a kill can fall between them.
    destinations: [{ id: 'siem', type: 'http', url: siem.url, allowInsecureLoopback: true, maxBatchRecords: 3 }],
  };
}

async function startProcess(sw: CrashSwitch | undefined, attach?: Pick<Harness, 'prefix' | 'queueName'>, startAt = T0): Promise<Harness> {
  const env = Object.fromEntries(sim.tenants.map((t, i) => [`SIM_SECRET_${i}`, t.clientSecret]));
  const h = await crashProcess({ doc: doc(), env, tenantId: sim.tenants[0]!.tenantId, sw, attach, startAt });
  current = h;
  return h;
}

/** The first timer run (each source's catch-up, no density yet: single jobs) and its jobs, then two minutes on. */
async function prepare(): Promise<Harness> {
  const h = await startProcess(undefined);
  const first = await h.tick();
  assert.deepEqual(first.batches, { messages: 0, jobs: 0 }, 'no density yet: no batch');
  await h.drain();
  h.clock.advance(2 * MINUTE);
  return h;
}

/**
 * With `sliceLength` 4 minutes set by the caller: prepare(), then 16 minutes without a timer run
 * (a host restart), so each source is behind by more than its longest slice and the next run
 * plans several small slices of it, whose first pages share batches. 16 minutes is past the
 * recovery sweep's interval (15), so that run's sweep runs whatever the table prefix staggers it
 * to: every process of a test reaches the same call sites.
 */
async function prepareCatchUp(): Promise<Harness> {
  assert.equal(sliceLength, '4m');
  const h = await prepare();
  h.clock.advance(16 * MINUTE);
  return h;
}

/**
 * The state `prep` leaves (with what the receiver got meanwhile), taken once: every run of a crash
 * matrix, and its reference run, starts from a copy of it (test/support/state-fork.ts).
 */
async function snapshot(prep: () => Promise<Harness>): Promise<StateSnapshot> {
  siem.events.length = 0;
  return snapshotState(await prep(), [siem]);
}

/** A process on a fresh copy of the snapshot, at its time; the receiver holds what it held then. */
async function startOnCopy(sw: CrashSwitch | undefined, s: StateSnapshot): Promise<Harness> {
  return startProcess(sw, await forkState(s), s.at);
}

/** The second timer run (every source's live slice small: one batch) and its jobs. */
async function batchedRun(h: Harness): Promise<{ messages: number; jobs: number }> {
  const r = await h.tick();
  await h.drain();
  return r.batches;
}

async function finished(h: Harness): Promise<boolean> {
  for (const s of h.config.sources) {
    const cursor = await h.ledger.getCursor(s.id);
    const health = await h.ledger.getHealth(s.id);
    if (!cursor || cursor.pending.length || health?.completedUntil !== cursor.scheduledUntil) return false;
    for await (const slice of h.ledger.listSlices(s.id)) if (slice.state !== 'done') return false;
  }
  return true;
}

/** A new process on the dead one's state, with time for claims and outboxes to come due (and lost jobs, if needed). */
function recover(dead: Harness): Promise<Harness> {
  return restartAfterKill(dead, {
    start: (at) => startProcess(undefined, dead, at),
    step: async (h) => {
      await h.tick();
      await h.drain();
    },
    done: finished,
  });
}

interface Verdict { lost: number; duplicated: number; excused: number; parked: number; watermarkOk: boolean }

async function verdict(h: Harness, excused: Set<string>): Promise<Verdict> {
  const count = new Map<string, number>();
  for (const e of siem.events) count.set(rowKey(e.tenantId, e.row), (count.get(rowKey(e.tenantId, e.row)) ?? 0) + 1);
  let lost = 0, duplicated = 0, excusedCopies = 0, parked = 0;
  let watermarkOk = true;
  const expected = new Set<string>();
  for (const [i, s] of h.config.sources.entries()) {
    const t = sim.tenants[i]!.tenantId;
    const until = (await h.ledger.getHealth(s.id))?.completedUntil ?? 0;
    watermarkOk &&= until > START && until === (await h.ledger.getCursor(s.id))?.scheduledUntil;
    for (const r of sim.groundTruth(t, START, until, { asOf: h.clock.now() })) expected.add(rowKey(t, r));
    for await (const _ of h.ledger.listSlices(s.id, { state: 'parked' })) parked++;
  }
  for (const k of expected) if (!count.has(k)) lost++;
  for (const [k, n] of count) {
    if (!expected.has(k)) lost++;
    if (n > 1) {
      if (excused.has(k) && n === 2) excusedCopies++;
      else duplicated += n - 1;
    }
  }
  return { lost, duplicated, excused: excusedCopies, parked, watermarkOk };
}

async function queued(h: Harness): Promise<QueueJob[]> {
  const peek = await h.storage.queue(h.queueName).peekMessages({ numberOfMessages: 32 });
  return peek.peekedMessageItems.map((m) => decodeJob(Buffer.from(m.messageText, 'base64').toString('utf8')));
}

/**
 * The crash matrix of a batched run prepared by `prepared` (each site at its first call and, where
 * the entries call it more than once, at its last: the kill then comes after the other entries got
 * that far or finished), printed under `title`, every run judged: killed, nothing lost or repeated
 * but the acknowledged, unrecorded rows, nothing parked, the watermark at the cursor.
 */
async function assertCrashMatrix(title: string, reference: CrashSwitch, sites: string[], prepared: StateSnapshot): Promise<void> {
  const rows = await runCrashMatrix({
    points: crashPoints(reference, sites, { lastHits: true }),
    reset: () => { siem.events.length = 0; },
    start: (sw) => startOnCopy(sw, prepared),
    run: batchedRun,
    recover,
    verdict,
  });
  console.log(crashReport(title, rows));
  for (const r of rows) {
    assert.ok(r.killed, `the run armed at ${r.site} #${r.hit} (${r.mode}) reached it`);
    assert.deepEqual([r.v.lost, r.v.duplicated, r.v.parked, r.v.watermarkOk], [0, 0, 0, true], `${r.site} #${r.hit} (${r.mode}): ${JSON.stringify(r.v)}`);
  }
}

describe('page batches', () => {
  it("one timer run puts the quiet tenants' live slices in one message, and every row arrives once", async () => {
    siem.events.length = 0;
    const h = await prepare();
    const r = await h.tick();
    assert.deepEqual(r.batches, { messages: 1, jobs: TENANTS });
    const jobs = await queued(h);
    assert.equal(jobs.length, 1, `one message in the queue: ${JSON.stringify(jobs)}`);
    assert.ok(isPageBatch(jobs[0]!));
    assert.deepEqual(jobs[0].jobs.map((j) => j.sourceId).sort(), ['s0', 's1', 's2']);
    assert.ok(jobs[0].jobs.every((j) => j.page === 0 && j.attempt === 0));
    assert.ok(jobs[0].jobs.every((j) => j.created), 'each entry carries the row its planner created');
    const before = h.outcomes['slice-done'] ?? 0;
    // Reads the entries make before their claims: the health rows by one query for the batch, the
    // slice rows none (claimed on the ETag the planner's create returned).
    const reads = { healthPoint: 0, healthQueries: 0, slicePoint: 0 };
    const { getHealth, getSlice, listHealthOf } = h.ledger;
    h.ledger.getHealth = (id) => {
      if (/\bguard\b/.test(new Error().stack ?? '')) reads.healthPoint++;
      return getHealth.call(h.ledger, id);
    };
    h.ledger.getSlice = (id, slice) => {
      if (/\bguard\b/.test(new Error().stack ?? '')) reads.slicePoint++;
      return getSlice.call(h.ledger, id, slice);
    };
    h.ledger.listHealthOf = (ids) => {
      reads.healthQueries++;
      return listHealthOf.call(h.ledger, ids);
    };
    try {
      await h.drain();
    } finally {
      Object.assign(h.ledger, { getHealth, getSlice, listHealthOf });
    }
    assert.deepEqual(reads, { healthPoint: 0, healthQueries: 1, slicePoint: 0 });
    assert.equal((h.outcomes['slice-done'] ?? 0) - before, TENANTS, `each entry's slice done: ${JSON.stringify(h.outcomes)}`);
    const v = await verdict(h, new Set());
    assert.deepEqual(v, { lost: 0, duplicated: 0, excused: 0, parked: 0, watermarkOk: true });
    assert.ok(siem.events.length > 20, `rows delivered: ${siem.events.length}`);
  });

  it('a catch-up puts several small slices of one source in one batch: the entries share the tenant budget and the watermark, and every row arrives once', async () => {
    siem.events.length = 0;
    sliceLength = '4m';
    const h = await prepareCatchUp().finally(() => { sliceLength = undefined; });
    const r = await h.tick();
    const jobs = await queued(h);
    const batches = jobs.filter(isPageBatch);
    assert.equal(r.batches.messages, batches.length);
    const perSource = new Map<string, number>();
    for (const b of batches) for (const j of b.jobs) perSource.set(j.sourceId, (perSource.get(j.sourceId) ?? 0) + 1);
    const shared = batches.filter((b) => new Set(b.jobs.map((j) => j.sourceId)).size < b.jobs.length);
    assert.ok(shared.length >= 1, `a batch holds two entries of one source: ${JSON.stringify(batches.map((b) => b.jobs.map((j) => `${j.sourceId}/${j.sliceId}`)))}`);
    const before = h.outcomes['slice-done'] ?? 0;
    await h.drain();
    assert.equal((h.outcomes['slice-done'] ?? 0) - before, [...perSource.values()].reduce((a, b) => a + b, 0) + jobs.filter((j) => !isPageBatch(j)).length, `every entry's slice done: ${JSON.stringify(h.outcomes)}`);
    const v = await verdict(h, new Set());
    assert.deepEqual(v, { lost: 0, duplicated: 0, excused: 0, parked: 0, watermarkOk: true });
  });

  it('a batch the host gave up on parks each entry whose slice is still at that page, and records an unknown one', async () => {
    const h = await prepare();
    await h.tick();
    const [batch] = await queued(h);
    assert.ok(batch && isPageBatch(batch));
    await h.storage.queue(h.queueName).clearMessages();
    const poisoned = pageBatchJob([...batch.jobs, pageJob('s0', 'live-nope', 0)]);
 const said = await handlePoisonMessage({ ledger: h.ledger, storage: h.storage, clock: h.clock, log: h.log, telemetry: h.telemetry }, Buffer.from(encodeJob(poisoned), 'base64').toString('utf8'), 'm-poison');
    assert.match(said, /^batch of 4: /);
    let parked = 0;
    for (const s of h.config.sources) for await (const slice of h.ledger.listSlices(s.id, { state: 'parked' })) parked += slice.id === batch.jobs.find((j) => j.sourceId === s.id)!.sliceId ? 1 : 0;
    assert.equal(parked, TENANTS, said);
    assert.match(said, /unknown slice s0\/live-nope|unattributed poison \(unknown slice\)/);
  });

  it('a kill before or after any storage or network call of the batched run loses nothing and repeats only the acknowledged, unrecorded rows', { timeout: 900_000 }, async () => {
    const reference = new CrashSwitch();
    const prepared = await snapshot(prepare);
    const ref = await startOnCopy(reference, prepared);
    assert.deepEqual(await batchedRun(ref), { messages: 1, jobs: TENANTS });
    assert.deepEqual(await verdict(ref, new Set()), { lost: 0, duplicated: 0, excused: 0, parked: 0, watermarkOk: true });
    const sites = [...reference.sites.keys()].sort();
    // The run's first send is the batch (every send is the one site `JobQueue.send`; a run dies at its first call there).
    assert.ok(sites.some((s) => s.includes('sendMessage')), `the batch send is a site: ${sites.join('\n')}`);
    assert.ok(sites.some((s) => s.includes('HeldClaim.commit')), `the entries' commits are sites: ${sites.join('\n')}`);

    await assertCrashMatrix('crash at every step of a page batch', reference, sites, prepared);
  });

  it('a kill before or after any call of a catch-up batch (several entries of one source) loses nothing and repeats only the acknowledged, unrecorded rows', { timeout: 900_000 }, async () => {
    // Every process of this test (the killed one and the one that recovers) has the same configuration.
    sliceLength = '4m';
    try {
      const reference = new CrashSwitch();
      const prepared = await snapshot(prepareCatchUp);
      const ref = await startOnCopy(reference, prepared);
      const sent = await batchedRun(ref);
      assert.ok(sent.messages >= 1 && sent.jobs > sent.messages, `batched: ${JSON.stringify(sent)}`);
      assert.deepEqual(await verdict(ref, new Set()), { lost: 0, duplicated: 0, excused: 0, parked: 0, watermarkOk: true });
      const sites = [...reference.sites.keys()].sort();
      await assertCrashMatrix('crash at every step of a catch-up batch', reference, sites, prepared);
    } finally {
      sliceLength = undefined;
    }
  });
});
