/**
 * Leases that match the work: a page claim is renewed while its holder delivers, however long the
 * delivery takes, and a job that finds a live claim (even a redelivery of the same queue message)
 * does not take the page over: it comes back when the claim would lapse.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { CLAIM_TTL_MS, processPageJob } from '../../shared/worker/page-worker';
import type { Destination } from '../../shared/destinations/destination';
import { decodePageJob } from '../../shared/queue/jobs';
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
