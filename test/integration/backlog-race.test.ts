/**
 * A destination's backlog under racing callers on real Azurite (invariant 10: every control-plane
 * decision is one compare-and-swap): page workers handing units off while drains deliver and
 * decide that nothing waits any more. Whatever the interleaving, no unit is left waiting behind an
 * `ok` destination (where no drain would ever take it), and every unit reaches the destination once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BacklogStore } from '../../shared/delivery/progress';
import { handOff } from '../../shared/delivery/hand-off';
import { processDeliveryJob, type DrainDeps } from '../../shared/delivery/drain';
import { deliveryJob, JobQueue, decodeJob } from '../../shared/queue/jobs';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { ManualClock } from '../../shared/time/clock';
import { MemoryLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { parseConfig } from '../../shared/components';
import type { Destination, SendContext } from '../../shared/destinations/destination';
import type { TraceEvent } from '../../shared/model/row';
import { stopTestStorage, testStorage, uniqueName } from '../support/azurite';

after(() => stopTestStorage());

const TENANT = '11111111-2222-3333-4444-555555555555';

function event(unit: string, i: number): TraceEvent {
  return { eventId: `${unit}-${i}`, tenantId: TENANT, sourceId: 's', collectedAt: '2026-12-01T00:00:00Z', api: 'graph/v1.0', row: { id: unit, recipientAddress: `r${i}@contoso.com`, receivedDateTime: '2026-12-01T00:00:00Z' } };
}

/** A destination that stores what it is sent, answering after a random short delay (so calls interleave). */
class RecordingDestination implements Destination {
  readonly id = 'd';
  readonly type = 'test';
  readonly got: string[] = [];
  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.random() * 15));
    this.got.push(...events.map((e) => e.eventId));
    await ctx.onProgress?.(events.length);
  }
}

async function setup() {
  const cs = await testStorage();
  const prefix = uniqueName('br');
  const storage = storageFromEnvironment({ JobsStorage: cs });
  await storage.ensure([`${prefix}backlog`, `${prefix}slices`, `${prefix}health`], [`${prefix}-q`], [`${prefix}backlog`]);
  const clock = new ManualClock(Date.UTC(2026, 11, 1));
  const backlog = new BacklogStore(storage.table(`${prefix}backlog`), storage.container(`${prefix}backlog`));
  const queue = new JobQueue(storage.queue(`${prefix}-q`), clock);
  const { config } = parseConfig({
    sources: [{ id: 's', tenantId: TENANT, auth: { method: 'clientSecret', clientId: '22222222-3333-4444-5555-666666666666', clientSecretRef: 'env:X' }, destinations: ['d'] }],
    destinations: [{ id: 'd', type: 'file', directory: './out' }],
  }, { env: { X: 'x' } });
  const destination = new RecordingDestination();
  const deps: DrainDeps = {
    config, backlog, queue, clock, log: new MemoryLogger(), telemetry: new MemoryTelemetry(),
    ledger: new Ledger(storage, prefix), destinations: new Map([['d', destination]]),
  };
  return { deps, destination, queue: storage.queue(`${prefix}-q`), backlog };
}

describe('a destination\'s backlog under racing callers', () => {
  it('hand-offs racing drains that find the backlog empty: no unit waits behind an ok destination, every unit arrives once', async () => {
    const { deps, destination, queue, backlog } = await setup();
    const units = 60;
    let messageNo = 0;
    const drainOnce = async () => processDeliveryJob(deps, deliveryJob('s', 'd'), { messageId: `m${messageNo++}`, dequeueCount: 1 });
    // Hand-offs in waves, each wave racing several drains (the page workers of many slices and the drain).
    for (let wave = 0; wave < 6; wave++) {
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < units / 6; i++) {
        const unit = `X-${String(wave).padStart(2, '0')}-${String(i).padStart(3, '0')}`;
        work.push(handOff(deps, { id: 's' }, 'd', { unit, events: [event(unit, 0), event(unit, 1)], startMs: 0, endMs: 1 }));
        if (i % 3 === 0) work.push(drainOnce());
      }
      await Promise.all(work);
      // The invariant at every quiet moment: units waiting means the destination is lagging (a drain will run).
      let waiting = 0;
      for await (const e of backlog.listEntries('s', 'd')) if (e.state === 'waiting') waiting++;
      const p = await backlog.getProgress('s', 'd');
      if (waiting > 0) assert.equal(p?.state, 'lagging', `wave ${wave}: ${waiting} unit(s) wait behind a destination in state ${p?.state}`);
    }
    // The queued drain jobs (and one more) finish the work.
    for (let round = 0; round < 20; round++) {
      const r = await queue.receiveMessages({ numberOfMessages: 32 });
      if (!r.receivedMessageItems.length) break;
      for (const m of r.receivedMessageItems) {
        const job = decodeJob(Buffer.from(m.messageText, 'base64').toString('utf8'));
        if (deps.clock instanceof ManualClock && job.notBefore && job.notBefore > deps.clock.now()) deps.clock.set(job.notBefore);
        if ('kind' in job && job.kind === 'delivery') await processDeliveryJob(deps, job, { messageId: m.messageId, dequeueCount: 1 });
        await queue.deleteMessage(m.messageId, m.popReceipt);
      }
    }
    await drainOnce();
    const p = await backlog.getProgress('s', 'd');
    assert.equal(p?.state, 'ok');
    let left = 0;
    for await (const _ of backlog.listEntries('s', 'd')) left++;
    assert.equal(left, 0, 'nothing waits');
    assert.equal(destination.got.length, 2 * units, 'every event arrived');
    assert.equal(new Set(destination.got).size, 2 * units, 'and none twice');
  });

  it('a drain job that finds the lease of a dead drain comes back when it lapses and drains; one that finds a live drain ends after two looks', async () => {
    const { deps, destination, queue, backlog } = await setup();
    const clock = deps.clock as ManualClock;
    for (let i = 0; i < 3; i++) await handOff(deps, { id: 's' }, 'd', { unit: `Y-${i}`, events: [event(`Y-${i}`, 0)], startMs: 0, endMs: 1 });
    // The drain of a process that was killed holds the lease for another 50 s.
    const p = (await backlog.getProgress('s', 'd'))!;
    assert.ok(await backlog.swapProgress({ ...p, claimOwner: 'killed-drain', claimUntil: clock.now() + 50_000 }));
    const outcomes: string[] = [];
    const runQueued = async () => {
      for (let round = 0; round < 20; round++) {
        const r = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 1 });
        if (!r.receivedMessageItems.length) {
          if (!(await queue.getProperties()).approximateMessagesCount) return;
          await new Promise((res) => setTimeout(res, 200));
          continue;
        }
        for (const m of r.receivedMessageItems) {
          const job = decodeJob(Buffer.from(m.messageText, 'base64').toString('utf8'));
          if (job.notBefore && job.notBefore > clock.now()) clock.set(job.notBefore);
          if ('kind' in job && job.kind === 'delivery') outcomes.push((await processDeliveryJob(deps, job, { messageId: m.messageId, dequeueCount: 1 })).outcome);
          await queue.deleteMessage(m.messageId, m.popReceipt);
        }
      }
    };
    await queue.clearMessages();
    outcomes.push((await processDeliveryJob(deps, deliveryJob('s', 'd'), { messageId: 'first', dequeueCount: 1 })).outcome);
    assert.deepEqual(outcomes, ['deferred'], 'the job comes back after the lease instead of ending');
    await runQueued();
    assert.equal((await backlog.getProgress('s', 'd'))?.state, 'ok', `the backlog drained once the dead drain's lease lapsed (${outcomes.join(', ')})`);
    assert.deepEqual([...destination.got].sort(), ['Y-0-0', 'Y-1-0', 'Y-2-0']);

    // A live drain renews its lease: a second job looks twice and ends, it does not drain beside it.
    await handOff(deps, { id: 's' }, 'd', { unit: 'Z-0', events: [event('Z-0', 0)], startMs: 0, endMs: 1 });
    await queue.clearMessages();
    const q = (await backlog.getProgress('s', 'd'))!;
    const live = (await backlog.swapProgress({ ...q, claimOwner: 'live-drain', claimUntil: clock.now() + 50_000 }))!;
    outcomes.length = 0;
    outcomes.push((await processDeliveryJob(deps, deliveryJob('s', 'd'), { messageId: 'second', dequeueCount: 1 })).outcome);
    // The live drain renews before the watcher comes back.
    assert.ok(await backlog.swapProgress({ ...live, claimUntil: clock.now() + 120_000 }));
    await runQueued();
    assert.deepEqual(outcomes, ['deferred', 'claimed-elsewhere'], 'two looks, then the job ends');
    assert.equal((await backlog.getProgress('s', 'd'))?.state, 'lagging', 'the live drain still owns the backlog');
    assert.equal(destination.got.includes('Z-0-0'), false, 'nothing was sent beside the live drain');
  });
});
