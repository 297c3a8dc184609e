/**
 * Backfill admission is one compare-and-swap (ARCHITECTURE invariant 10), and a run interrupted at
 * any step of its materialisation is completed by recovery: real concurrent callers racing on
 * Azurite, the real page worker draining the jobs, every row counted at the receiver.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { rowKey } from '../../shared/model/row';
import { startBackfill } from '../../shared/backfill';
import { MATERIALISE_GRACE_MS, resumeRuns } from '../../shared/backfill-runs';
import { ACTIVE_INDEX_KEY, MAX_ACTIVE_RUNS, runStore } from '../../shared/state/runs';
import { createHarness, type Harness } from '../support/worker-harness';
import { compareDelivery, startReceiver, type Receiver } from '../support/receiver';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
/** The backfilled range: well before the live start, so only backfill slices cover it. */
const B_START = T0 - 30 * HOUR;
const B_END = T0 - 27 * HOUR;

let sim: Simulator;
let receiver: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 21,
    tenants: [{ rowsPerDay: 24_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 60_000 } } }],
  }, () => (current ? current.clock.now() : T0));
  receiver = await startReceiver();
});

after(async () => {
  await sim?.stop();
  await receiver?.close();
});

function doc() {
  return {
    sources: [{
      id: 'contoso',
      ...simulatorTenant(sim),
      start: new Date(T0 - HOUR).toISOString(),
      collectionDelay: '10m',
      sliceLength: '1h',
      destinations: ['siem'],
    }],
    destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
  };
}

async function harness(): Promise<Harness> {
  receiver.events.length = 0;
  const h = await createHarness({ doc: doc(), env: { SIM_SECRET: sim.tenants[0]!.clientSecret }, startAt: T0 });
  current = h;
  return h;
}

const body = { start: new Date(B_START).toISOString(), end: new Date(B_END).toISOString() };
const statusUrl = (id: string) => `/backfill/${id}`;

/** Delivery of the backfilled range at the receiver, against the simulator's ground truth. */
function delivery(h: Harness, startMs = B_START, endMs = B_END) {
  const t = sim.tenants[0]!.tenantId;
  const expected = sim.groundTruth(t, startMs, endMs, { asOf: h.clock.now() }).map((r) => rowKey(t, r));
  const delivered = receiver.events
    .filter((e) => !e.update)
    .filter((e) => {
      const at = Date.parse(String((e.row as { receivedDateTime?: string }).receivedDateTime));
      return at >= startMs && at < endMs;
    })
    .map((e) => rowKey(e.tenantId, e.row));
  return compareDelivery(expected, delivered);
}

describe('backfill admission is one compare-and-swap', () => {
  it('20 concurrent identical requests: exactly one 202, nineteen 409 naming that run, every row delivered once', async () => {
    const h = await harness();
    const answers = await Promise.all(Array.from({ length: 20 }, () => startBackfill(h.deps, 'contoso', body, statusUrl)));
    const started = answers.filter((a) => a.status === 202);
    const conflicts = answers.filter((a) => a.status === 409);
    assert.equal(started.length, 1, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(conflicts.length, 19);
    for (const c of conflicts) {
      assert.equal(c.body.runId, started[0]!.body.runId);
      assert.match(String(c.body.message), new RegExp(`overlaps backfill ${String(started[0]!.body.runId)}`));
    }
    assert.equal((await runStore(h.ledger).listRuns('contoso')).length, 1, 'one run row');

    await h.drain();
    const cmp = delivery(h);
    assert.ok(cmp.expected > 500, `the range holds rows (${cmp.expected})`);
    assert.deepEqual({ missing: cmp.missing, duplicate: cmp.duplicate, unexpected: cmp.unexpected }, { missing: 0, duplicate: 0, unexpected: 0 });
  });

  it('overlapping requests that differ race too: one of them wins, the others get 409', async () => {
    const h = await harness();
    const bodies = Array.from({ length: 12 }, (_, i) => ({ start: new Date(B_START + i * 60_000).toISOString(), end: new Date(B_END - i * 60_000).toISOString() }));
    const answers = await Promise.all(bodies.map((b) => startBackfill(h.deps, 'contoso', b, statusUrl)));
    assert.equal(answers.filter((a) => a.status === 202).length, 1, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(answers.filter((a) => a.status === 409).length, 11);
  });

  it(`disjoint requests racing are all admitted up to ${MAX_ACTIVE_RUNS} running at once; past that 429 names the running runs`, async () => {
    const h = await harness();
    const n = MAX_ACTIVE_RUNS + 3;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) =>
      startBackfill(h.deps, 'contoso', { start: new Date(B_START + i * 10 * 60_000).toISOString(), end: new Date(B_START + (i + 1) * 10 * 60_000).toISOString() }, statusUrl)));
    assert.equal(answers.filter((a) => a.status === 202).length, MAX_ACTIVE_RUNS, JSON.stringify(answers.map((a) => a.status)));
    const full = answers.filter((a) => a.status === 429);
    assert.equal(full.length, 3);
    assert.match(String(full[0]!.body.message), /already has 8 backfills running/);
    // The index at its bound stays far below a Table property's 32K characters.
    const entity = await h.ledger.runs.getEntity<{ runs: string }>('contoso', ACTIVE_INDEX_KEY);
    assert.ok(entity.runs.length < 4000, `index size ${entity.runs.length}`);

    // Once they finish, they leave the index and a new request is admitted.
    await h.drain();
    const again = await startBackfill(h.deps, 'contoso', body, statusUrl);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    const index = await runStore(h.ledger).getActive('contoso');
    assert.deepEqual(index.runs.map((r) => r.runId), [again.body.runId]);
    const runs = await runStore(h.ledger).listRuns('contoso');
    assert.equal(runs.filter((r) => r.state === 'done').length, MAX_ACTIVE_RUNS);
  });

  it('a finished run leaves the index by the recovery pass; the same range can then be backfilled again', async () => {
    const h = await harness();
    const first = await startBackfill(h.deps, 'contoso', body, statusUrl);
    assert.equal(first.status, 202);
    assert.equal((await startBackfill(h.deps, 'contoso', body, statusUrl)).status, 409, 'still running');
    await h.drain();
    const r = await resumeRuns(h.deps, { id: 'contoso' });
    assert.deepEqual(r, { materialised: 0, finished: 1, active: 0 });
    assert.equal((await runStore(h.ledger).getActive('contoso')).runs.length, 0);
    assert.equal((await runStore(h.ledger).getRun('contoso', String(first.body.runId)))?.state, 'done');
    assert.equal((await startBackfill(h.deps, 'contoso', body, statusUrl)).status, 202);
  });

  it('the planner reads the run index only while the cursor hints at a run (or with its sweep): admission sets the hint, an empty index clears it', async () => {
    const h = await harness();
    await h.plan();
    // A new cursor starts with the hint set; the first planning run finds no run and clears it.
    assert.equal((await h.ledger.getCursor('contoso'))?.runsHint, 0);
    const store = runStore(h.ledger);
    const reads = { n: 0 };
    const getActive = store.constructor.prototype.getActive as (this: unknown, id: string) => Promise<unknown>;
    store.constructor.prototype.getActive = function (this: unknown, id: string) { reads.n++; return getActive.call(this, id); };
    try {
      h.clock.advance(60_000);
      await h.plan();
      assert.equal(reads.n, 0, 'no run index read while the hint is clear and no sweep is due');
      const started = await startBackfill(h.deps, 'contoso', body, statusUrl);
      assert.equal(started.status, 202);
      assert.ok(((await h.ledger.getCursor('contoso'))?.runsHint ?? 0) > 0, 'admission sets the hint');
      reads.n = 0;
      h.clock.advance(60_000);
      await h.plan();
      assert.ok(reads.n > 0, 'the hint makes the planner read the index');
      await h.drain();
      for (let i = 0; i < 3 && ((await h.ledger.getCursor('contoso'))?.runsHint ?? 0) > 0; i++) {
        h.clock.advance(60_000);
        await h.plan();
        await h.drain();
      }
      assert.equal((await runStore(h.ledger).getRun('contoso', String(started.body.runId)))?.state, 'done', 'the run was finished by the planner');
      assert.equal((await h.ledger.getCursor('contoso'))?.runsHint, 0, 'and the hint cleared once the index was empty');
    } finally {
      store.constructor.prototype.getActive = getActive;
    }
  });

  it('a run row changes state only by compare-and-swap', async () => {
    const h = await harness();
    const started = await startBackfill(h.deps, 'contoso', body, statusUrl);
    const store = runStore(h.ledger);
    const run = (await store.getRun('contoso', String(started.body.runId)))!;
    assert.equal(run.state, 'running');
    assert.ok(await store.setRunState(run, 'done'));
    assert.equal(await store.setRunState(run, 'running'), undefined, 'a stale etag loses');
    assert.equal((await store.getRun('contoso', run.runId))!.state, 'done');
  });
});

/** Makes the `nth` call (1-based) of `obj[name]` that `match` accepts throw, as a process killed there would stop. */
function crashAt<T extends object>(obj: T, name: keyof T, nth: number, match: (...args: unknown[]) => boolean = () => true): { fired: () => boolean } {
  const original = (obj[name] as (...a: unknown[]) => Promise<unknown>).bind(obj);
  let calls = 0;
  let fired = false;
  (obj as Record<string, unknown>)[name as string] = async (...args: unknown[]) => {
    if (!fired && match(...args) && ++calls === nth) {
      fired = true;
      (obj as Record<string, unknown>)[name as string] = original;
      throw new Error(`injected crash at ${String(name)} call ${nth}`);
    }
    return original(...args);
  };
  return { fired: () => fired };
}

describe('a backfill request that dies half-way is completed by recovery, with no gap and no duplicate', () => {
  const isRunRow = (e: unknown) => (e as { rowKey?: string }).rowKey !== ACTIVE_INDEX_KEY;
  const steps: { name: string; inject: (h: Harness) => { fired: () => boolean } }[] = [
    { name: 'after the index compare-and-swap, before the run row', inject: (h) => crashAt(h.ledger.runs, 'createEntity', 1, isRunRow) },
    { name: 'after the run row, before any slice', inject: (h) => crashAt(h.ledger, 'createSlice', 1) },
    { name: 'after some slices, before the rest', inject: (h) => crashAt(h.ledger, 'createSlice', 2) },
    { name: 'after the slices, before any job', inject: (h) => crashAt(h.queue, 'send', 1) },
    { name: 'after some jobs, before the rest', inject: (h) => crashAt(h.queue, 'send', 2) },
    { name: 'after every job, before the run is marked running', inject: (h) => crashAt(h.ledger.runs, 'updateEntity', 1, isRunRow) },
  ];
  for (const step of steps) {
    it(`crash ${step.name}`, async () => {
      const h = await harness();
      const fault = step.inject(h);
      await assert.rejects(startBackfill(h.deps, 'contoso', body, statusUrl), /injected crash/);
      assert.ok(fault.fired());
      // The run was admitted: a retry of the request is told so, not given a second run.
      const retry = await startBackfill(h.deps, 'contoso', body, statusUrl);
      assert.equal(retry.status, 409);
      const runId = String(retry.body.runId);
      // Run rows are written before their slices: no slice of the run exists without its row.
      let written = 0;
      for await (const _ of h.ledger.listSlices('contoso', { fromRowKey: `B-${runId}-`, toRowKey: `B-${runId}.` })) written++;
      if (written > 0) assert.ok(await runStore(h.ledger).getRun('contoso', runId), 'slices exist only after their run row');

      // Whatever jobs the request sent run now; recovery inside the grace leaves the run alone.
      await h.drain();
      assert.equal((await resumeRuns(h.deps, { id: 'contoso' })).materialised, 0);
      // After the grace, the planner's recovery pass (recoverSource → resumeRuns) completes it.
      h.clock.advance(MATERIALISE_GRACE_MS);
      await h.plan();
      assert.notEqual((await runStore(h.ledger).getRun('contoso', runId))?.state, 'materialising');
      await h.drain();
      await resumeRuns(h.deps, { id: 'contoso' });

      const run = await runStore(h.ledger).getRun('contoso', runId);
      assert.equal(run?.state, 'done');
      assert.equal((await runStore(h.ledger).getActive('contoso')).runs.length, 0, 'the finished run left the index');
      assert.equal((await runStore(h.ledger).listRuns('contoso')).length, 1, 'one run');
      const slices = [];
      for await (const s of h.ledger.listSlices('contoso', { fromRowKey: `B-${runId}-`, toRowKey: `B-${runId}.` })) slices.push(s);
      assert.equal(slices.length, run!.slicesTotal);
      assert.ok(slices.every((s) => s.state === 'done'), JSON.stringify(slices.map((s) => s.state)));
      const cmp = delivery(h);
      assert.deepEqual({ missing: cmp.missing, duplicate: cmp.duplicate, unexpected: cmp.unexpected }, { missing: 0, duplicate: 0, unexpected: 0 }, JSON.stringify(cmp));
    });
  }
});
