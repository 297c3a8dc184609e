/**
 * Leases that match the work: a page claim is renewed while its holder delivers, however long the
 * delivery takes, and a job that finds a live claim (even a redelivery of the same queue message)
 * does not take the page over: it comes back when the claim would lapse.
 *
 * A first page job claims the row its planner created without reading it: the job carries the
 * new row's ETag and creation time (`created`), and the worker rebuilds the row from the slice id
 * and claims it with If-Match on that ETag. Every way the row can have changed since (a claim that
 * lapsed, a live claim, a recorded page) fails that claim, and the job is then judged on the row as
 * read, exactly as a job without `created`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { CLAIM_TTL_MS, processPageJob } from '../../shared/worker/page-worker';
import type { Destination } from '../../shared/destinations/destination';
import { decodeJob, decodePageJob, JobSchemaError, MAX_CREATED_ETAG, pageJob, withoutCreated, type PageJob } from '../../shared/queue/jobs';
import { claim } from '../../shared/state/slice-machine';
import { plannedSliceFields } from '../../shared/state/ledger';
import { rowKey } from '../../shared/model/row';
import { createHarness, type Harness } from '../support/worker-harness';
import { startReceiver, type Receiver } from '../support/receiver';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);

let sim: Simulator;
let receiver: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 5,
    tenants: [{ rowsPerDay: 20_000, traffic: { visibilityDelay: { minMs: 0, maxMs: 0 } } }],
  }, () => current?.clock.now() ?? T0);
  receiver = await startReceiver();
});
after(async () => {
  await sim?.stop();
  await receiver?.close();
});

async function harness(): Promise<Harness> {
  const t = sim.tenants[0]!;
  receiver.events.length = 0;
  const h = await createHarness({
    doc: {
      sources: [{
        id: 'contoso',
        ...simulatorTenant(sim),
        start: new Date(T0 - 60 * MINUTE).toISOString(), collectionDelay: '5m', sliceLength: '2h', pageSize: 500,
        settle: { rereads: [] }, destinations: ['siem'],
      }],
      destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true, maxBatchRecords: 50 }],
    },
    env: { SIM_SECRET: t.clientSecret }, startAt: T0,
  });
  current = h;
  return h;
}

/** Takes the one job the planner enqueued. */
async function takeJob(h: Harness) {
  const q = h.storage.queue(h.queueName);
  const r = await q.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 1 });
  const m = r.receivedMessageItems[0]!;
  await q.deleteMessage(m.messageId, m.popReceipt);
  return { job: decodePageJob(Buffer.from(m.messageText, 'base64').toString('utf8')), messageId: m.messageId };
}

describe('page claims', () => {
  it('a delivery slower than the claim lifetime keeps its claim: a second job for the page meanwhile does not take it over', async () => {
    const h = await harness();
    await h.plan();
    const { job, messageId } = await takeJob(h);
    const siem = h.deps.destinations.get('siem')!;
    let intruder: string | undefined;
    // A destination that takes 3 claim lifetimes for the page: 15 s of clock time per batch of 50.
    const slowSend: Destination['send'] = (events, ctx) => siem.send(events, {
        ...ctx,
        onProgress: async (n, bytes) => {
          h.clock.advance(CLAIM_TTL_MS / 4);
          await ctx.onProgress?.(n, bytes);
          if (n >= 200 && !intruder) {
            // The same message delivered again (a lock that expired), in the middle of the delivery.
            intruder = (await processPageJob(h.deps, job, { messageId, dequeueCount: 2 })).outcome;
          }
        },
      });
    const slow = new Proxy(siem, { get: (t, p, r) => (p === 'send' ? slowSend : Reflect.get(t, p, r) as unknown) });
    (h.deps.destinations as Map<string, Destination>).set('siem', slow);
    const started = h.clock.now();
    const first = await processPageJob(h.deps, job, { messageId, dequeueCount: 1 });
    assert.ok(h.clock.now() - started > 2 * CLAIM_TTL_MS, `the delivery outlived two claim lifetimes (${h.clock.now() - started} ms)`);
    assert.equal(intruder, 'claimed-elsewhere', 'the redelivered message left the live claim alone');
    assert.match(first.outcome, /forwarded|slice-done/);
    const keys = receiver.events.map((e) => e.eventId);
    assert.equal(new Set(keys).size, keys.length, 'no event was sent twice');
    // The intruder's job came back for later, when the claim would have lapsed: a no-op by then.
    const back = await takeJob(h);
    assert.ok(back.job.notBefore! > started, 'the intruding job was re-enqueued for after the claim');
  });

  it('a dead holder\'s claim lapses: after its lifetime the page is taken over and finished', async () => {
    const h = await harness();
    await h.plan();
    const { job } = await takeJob(h);
    const slice = (await h.ledger.getSlice(job.sourceId, job.sliceId))!;
    // A holder that claimed the page and died.
    await h.ledger.swapSlice({ ...slice, state: 'fetching', claimOwner: 'dead-worker', claimUntil: h.clock.now() + CLAIM_TTL_MS, attempts: 1 });
    assert.equal((await processPageJob(h.deps, job, { messageId: 'm2', dequeueCount: 1 })).outcome, 'claimed-elsewhere');
    h.clock.advance(CLAIM_TTL_MS + 1);
    assert.match((await processPageJob(h.deps, job, { messageId: 'm2', dequeueCount: 1 })).outcome, /forwarded|slice-done/);
  });
});

/** Counts the ledger's slice reads (point reads) while `run` runs. */
async function sliceReads<T>(h: Harness, run: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const original = h.ledger.getSlice.bind(h.ledger);
  let reads = 0;
  h.ledger.getSlice = (sourceId, sliceId) => {
    reads++;
    return original(sourceId, sliceId);
  };
  try {
    return { result: await run(), reads };
  } finally {
    h.ledger.getSlice = original;
  }
}

/** Every row the simulator holds for the slice's window, as row keys. */
function expectedKeys(h: Harness, startMs: number, endMs: number): string[] {
  const t = sim.tenants[0]!;
  return sim.groundTruth(t.tenantId, startMs, endMs, { asOf: h.clock.now() }).map((r) => rowKey(t.tenantId, r)).sort();
}

function receivedKeys(): string[] {
  return receiver.events.map((e) => rowKey(e.tenantId, e.row)).sort();
}

/** The planner's first page job, taken off the queue. */
async function plannedJob(h: Harness): Promise<{ job: PageJob; messageId: string }> {
  await h.plan();
  return takeJob(h);
}

async function queuedJobs(h: Harness): Promise<PageJob[]> {
  const r = await h.storage.queue(h.queueName).peekMessages({ numberOfMessages: 32 });
  return r.peekedMessageItems.map((m) => decodePageJob(Buffer.from(m.messageText, 'base64').toString('utf8')));
}

describe('a first page job claims its planner\'s row unread (issue 19: one slice read less per slice)', () => {
  it('carries the new row\'s ETag and creation time, claims without a slice read, and forwards the slice once', async () => {
    const h = await harness();
    const { job, messageId } = await plannedJob(h);
    assert.ok(job.created, `the planner's job carries the row it created: ${JSON.stringify(job)}`);
    const row = await h.ledger.getSlice('contoso', job.sliceId);
    assert.equal(job.created.etag, row!.etag, 'the ETag of the row as created');
    assert.equal(job.created.at, row!.createdAt);
    const { result, reads } = await sliceReads(h, () => processPageJob(h.deps, job, { messageId, dequeueCount: 1 }));
    assert.equal(result.outcome, 'forwarded', JSON.stringify(result));
    assert.equal(reads, 0, 'no slice read before the claim');
    await h.drain();
    const fields = plannedSliceFields('contoso', job.sliceId)!;
    const expected = expectedKeys(h, fields.startMs, fields.endMs);
    assert.ok(expected.length > 50, `rows in the slice: ${expected.length}`);
    assert.deepEqual(receivedKeys(), expected, 'every row of the slice once');
    const done = await h.ledger.getSlice('contoso', job.sliceId);
    assert.equal(done!.state, 'done');
  });

  it('the same job without `created`, or delivered a second time, reads the row first (one slice read)', async () => {
    for (const variant of ['plain', 'redelivered'] as const) {
      const h = await harness();
      const { job, messageId } = await plannedJob(h);
      const { result, reads } = await sliceReads(h, () => processPageJob(h.deps, variant === 'plain' ? withoutCreated(job) : job, { messageId, dequeueCount: variant === 'plain' ? 1 : 2 }));
      assert.equal(result.outcome, 'forwarded', `${variant}: ${JSON.stringify(result)}`);
      assert.equal(reads, 1, `${variant}: the row is read once`);
    }
  });

  it('a row claimed since (a claim that lapsed) fails the claim on its ETag, is read, taken over, and forwarded once', async () => {
    const h = await harness();
    const { job, messageId } = await plannedJob(h);
    const row = (await h.ledger.getSlice('contoso', job.sliceId))!;
    // A worker that claimed the page and died: its claim lapses.
    assert.ok(await h.ledger.swapSlice(claim(row, { owner: 'dead-worker', ttlMs: 1000 }, h.clock.now())));
    h.clock.advance(2000);
    const { result, reads } = await sliceReads(h, () => processPageJob(h.deps, job, { messageId, dequeueCount: 1 }));
    assert.equal(result.outcome, 'forwarded', JSON.stringify(result));
    assert.equal(reads, 1, 'the refused claim reads the row once');
    await h.drain();
    const done = (await h.ledger.getSlice('contoso', job.sliceId))!;
    assert.equal(done.state, 'done');
    assert.deepEqual(receivedKeys(), expectedKeys(h, done.startMs, done.endMs), 'every row of the slice once');
  });

  it('a row under a live claim: nothing is sent, and the job comes back after the claim, without `created`', async () => {
    const h = await harness();
    const { job, messageId } = await plannedJob(h);
    const row = (await h.ledger.getSlice('contoso', job.sliceId))!;
    const held = (await h.ledger.swapSlice(claim(row, { owner: 'live-worker', ttlMs: 60_000 }, h.clock.now())))!;
    const result = await processPageJob(h.deps, job, { messageId, dequeueCount: 1 });
    assert.equal(result.outcome, 'claimed-elsewhere');
    assert.equal(receiver.events.length, 0, 'nothing sent');
    const after = (await h.ledger.getSlice('contoso', job.sliceId))!;
    assert.equal(after.etag, held.etag, 'the live claim is untouched');
    const back = await queuedJobs(h);
    assert.equal(back.length, 1, 'the job is queued again');
    assert.equal(back[0]!.sliceId, job.sliceId);
    assert.equal(back[0]!.created, undefined, 'the job sent again reads the row (it changed)');
  });

  it('two copies of a first page job racing (both first deliveries): one claims on the ETag, the other is refused, reads the row and sends nothing', async () => {
    const h = await harness();
    const { job, messageId } = await plannedJob(h);
    const results = await Promise.all([
      processPageJob(h.deps, job, { messageId, dequeueCount: 1 }),
      processPageJob(h.deps, job, { messageId: `${messageId}-copy`, dequeueCount: 1 }),
    ]);
    assert.deepEqual(results.map((r) => r.outcome).sort(), ['claimed-elsewhere', 'forwarded'], JSON.stringify(results));
    await h.drain();
    const done = (await h.ledger.getSlice('contoso', job.sliceId))!;
    assert.equal(done.state, 'done');
    assert.deepEqual(receivedKeys(), expectedKeys(h, done.startMs, done.endMs), 'every row of the slice once');
  });

  it('a job whose page is already recorded (a duplicate message) is a no-op after the refused claim', async () => {
    const h = await harness();
    const { job, messageId } = await plannedJob(h);
    assert.equal((await processPageJob(h.deps, job, { messageId, dequeueCount: 1 })).outcome, 'forwarded');
    const sent = receiver.events.length;
    const again = await processPageJob(h.deps, job, { messageId: `${messageId}-copy`, dequeueCount: 1 });
    assert.equal(again.outcome, 'duplicate');
    assert.equal(receiver.events.length, sent, 'nothing sent twice');
  });

  it('`created` is ignored where the row cannot be rebuilt from the id (a backfill slice) or the page is not the first', async () => {
    assert.equal(plannedSliceFields('s', 'B-run1-000000000000001-000000000000002'), undefined);
    assert.equal(plannedSliceFields('s', 'L-1-2'), undefined, 'ids not as liveSliceId writes them');
    assert.deepEqual(plannedSliceFields('s', 'R2-000000000001000-000000000002000'), { sourceId: 's', id: 'R2-000000000001000-000000000002000', kind: 'rescan', runId: '', startMs: 1000, endMs: 2000 });
    assert.equal(pageJob('s', 'L-000000000001000-000000000002000', 1, { etag: 'W/"x"', at: 5 }).created, undefined, 'only a first page carries it');
    const h = await harness();
    const { job, messageId } = await plannedJob(h);
    // The same job named for a slice id the row cannot be rebuilt from: the worker reads (and finds no such slice).
    const { result, reads } = await sliceReads(h, () => processPageJob(h.deps, { ...job, sliceId: 'B-run1-000000000000001-000000000000002' }, { messageId, dequeueCount: 1 }));
    assert.equal(result.outcome, 'unknown-slice');
    assert.equal(reads, 1);
  });

  it('a malformed `created` is a schema error naming the field', () => {
    const base = { v: 1, sourceId: 's', sliceId: 'L-000000000001000-000000000002000', page: 0, attempt: 0 };
    for (const created of [{ etag: '', at: 1 }, { etag: 'x'.repeat(MAX_CREATED_ETAG + 1), at: 1 }, { etag: 'W/"x"', at: -1 }, { etag: 'W/"x"' }, { etag: 'W/"x"', at: 1, extra: 1 }, 'W/"x"']) {
      assert.throws(() => decodeJob({ ...base, created }), (err: unknown) => err instanceof JobSchemaError && /created/.test(err.message), JSON.stringify(created));
    }
    assert.deepEqual(decodeJob({ ...base, created: { etag: 'W/"x"', at: 1 } }), { ...base, created: { etag: 'W/"x"', at: 1 } });
  });
});
