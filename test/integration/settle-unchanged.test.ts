/**
 * A settle re-read sends only what changed. The seen-store fingerprint covers status, size and
 * toIP (shared/settle/seen-store.ts): a re-read of rows that did not change sends nothing, a row
 * whose status changed sends one update event carrying the previous status, a row whose size
 * changed likewise, and a row where only a field outside the fingerprint (the subject) changed
 * sends nothing. Rows are placed and changed exactly (simulator injectRows / amendInjectedRows),
 * with no other traffic, through the real planner and page worker on Azurite.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { createHarness, type Harness } from '../support/worker-harness';
import { startReceiver, type Receiver } from '../support/receiver';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const BUCKET = T0 - HOUR; // [T0-1h, T0): re-read 1 h and 3 h after it ends, i.e. at T0+1h and T0+3h
const ROWS = {
  unchanged: 'unchanged@contoso.com',
  status: 'status.changes@contoso.com',
  size: 'size.changes@contoso.com',
  subject: 'subject.changes@contoso.com',
} as const;

let sim: Simulator;
let receiver: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 43,
    tenants: [{
      rowsPerDay: 0,
      traffic: {
        injectedRows: Object.values(ROWS).map((recipientAddress, i) => ({
          receivedDateTime: new Date(BUCKET + 10 * 60_000 + i * 1000).toISOString(), recipientAddress, status: 'delivered' as const, message: 1,
        })),
      },
    }],
  }, () => (current ? current.clock.now() : T0));
  receiver = await startReceiver();
});

after(async () => {
  await sim?.stop();
  await receiver?.close();
});

describe('settle re-read of unchanged and changed rows', () => {
  it('sends nothing for unchanged rows or a change outside the fingerprint, one update per status or size change', async () => {
    const t = sim.tenants[0]!;
    const doc = {
      sources: [{
        id: 'settling',
        ...simulatorTenant(sim),
        start: new Date(BUCKET).toISOString(),
        collectionDelay: '10m',
        sliceLength: '1h',
        pollInterval: '15m',
        settle: { rereads: ['1h', '3h'], bucket: '1h' },
        destinations: ['siem'],
      }],
      destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
    };
    const h = await createHarness({ doc, env: { SIM_SECRET: t.clientSecret }, startAt: T0 });
    current = h;
    const eventsOf = (recipient: string) => receiver.events.filter((e) => e.row.recipientAddress === recipient);
    const step = async (until: number) => {
      while (h.clock.now() < until) {
        h.clock.advance(15 * 60_000);
        await h.plan();
        await h.drain();
      }
    };

    // Live collection: each row once.
    await h.plan();
    await h.drain();
    for (const r of Object.values(ROWS)) assert.equal(eventsOf(r).length, 1, `${r}: collected live once`);

    // Before the first re-read (at T0+1h): status, size and subject change.
    assert.equal(sim.amendInjectedRows(t.tenantId, ROWS.status, { status: 'failed' }), 1);
    assert.equal(sim.amendInjectedRows(t.tenantId, ROWS.size, { size: 123_456 }), 1);
    assert.equal(sim.amendInjectedRows(t.tenantId, ROWS.subject, { subject: 'Changed subject (not in the fingerprint)' }), 1);
    await step(T0 + 90 * 60_000);
    const rescans = [];
    for await (const s of h.ledger.listSlices('settling')) if (s.kind === 'rescan' && s.state === 'done' && s.startMs === BUCKET) rescans.push(s);
    assert.equal(rescans.length, 1, 'the first re-read of the bucket ran, after the changes');

    assert.equal(eventsOf(ROWS.unchanged).length, 1, 'an unchanged row is not sent again');
    assert.equal(eventsOf(ROWS.subject).length, 1, 'a change outside the fingerprint (subject) is not sent');
    const status = eventsOf(ROWS.status);
    assert.equal(status.length, 2, 'a status change is sent once');
    assert.equal(status[1]!.update, true);
    assert.equal(String(status[1]!.row.status).toLowerCase(), 'failed');
    assert.equal((status[1]!.previous as { status?: string }).status, 'delivered');
    const size = eventsOf(ROWS.size);
    assert.equal(size.length, 2, 'a size change is sent once');
    assert.equal(size[1]!.row.size, 123_456);
    assert.notEqual((size[1]!.previous as { size?: number }).size, 123_456);

    // The second re-read (3 h) sees nothing new: nothing more is sent.
    await step(T0 + 3 * HOUR + 30 * 60_000);
    let rereadLevels = 0;
    for await (const s of h.ledger.listSlices('settling')) if (s.kind === 'rescan' && s.state === 'done' && s.startMs === BUCKET) rereadLevels++;
    assert.equal(rereadLevels, 2, 'both re-reads ran');
    assert.deepEqual(Object.values(ROWS).map((r) => eventsOf(r).length), [1, 2, 2, 1], 'no further events after the second re-read');
  });
});
