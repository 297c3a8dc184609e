/**
 * Slices are half-open [start, end), but Graph's `le` is inclusive: a row stamped exactly on a
 * boundary comes back in the answers of BOTH neighbouring slices. The page worker keeps it only
 * in the slice that starts there. Rows injected exactly on a live boundary, a backfill boundary
 * and the seam between a backfill and the live range must each reach the destination once, with
 * the real planner, backfill and page worker on Azurite.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator';
import { simulatorTenant, startHarnessSimulator } from '../support/harness-simulator';
import { rowKey } from '../../shared/model/row';
import { startBackfill } from '../../shared/backfill';
import type { Runtime } from '../../shared/runtime';
import { createHarness, type Harness } from '../support/worker-harness';
import { compareDelivery, startReceiver, type Receiver } from '../support/receiver';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);

let sim: Simulator;
let receiver: Receiver;
let current: Harness | undefined;

before(async () => {
  sim = await startHarnessSimulator({
    seed: 41,
    tenants: [{ rowsPerDay: 4800, traffic: { visibilityDelay: { minMs: 0, maxMs: 60_000 } } }],
  }, () => (current ? current.clock.now() : T0));
  receiver = await startReceiver();
});

after(async () => {
  await sim?.stop();
  await receiver?.close();
});

function iso7(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '0000Z');
}

describe('half-open slice boundaries', () => {
  it('a row stamped exactly on a live slice boundary, a backfill slice boundary and the backfill/live seam is delivered exactly once', async () => {
    const t = sim.tenants[0]!;
    const liveStart = T0 - 6 * HOUR;
    const doc = {
      sources: [{
        id: 'edges',
        ...simulatorTenant(sim),
        start: new Date(liveStart).toISOString(),
        collectionDelay: '10m',
        sliceLength: '1h',
        pageSize: 1000,
        destinations: ['siem'],
      }],
      destinations: [{ id: 'siem', type: 'http', url: receiver.url, allowInsecureLoopback: true }],
    };
    const h = await createHarness({ doc, env: { SIM_SECRET: t.clientSecret }, startAt: T0 });
    current = h;

    await h.plan();
    const backfill = await startBackfill(h.deps as unknown as Runtime, 'edges', { start: new Date(T0 - 12 * HOUR).toISOString(), end: new Date(liveStart).toISOString() }, (id) => `/status/${id}`);
    assert.equal(backfill.status, 202, JSON.stringify(backfill.body));

    const slices: { kind: string; startMs: number; endMs: number }[] = [];
    for await (const s of h.ledger.listSlices('edges')) slices.push(s);
    const interior = (kind: string) => {
      const ofKind = slices.filter((s) => s.kind === kind).sort((a, b) => a.startMs - b.startMs);
      const joined = ofKind.find((s, i) => i > 0 && ofKind[i - 1]!.endMs === s.startMs);
      assert.ok(joined, `at least two adjoining ${kind} slices: ${JSON.stringify(ofKind)}`);
      return joined.startMs;
    };
    const edges = { live: interior('live'), backfill: interior('backfill'), seam: liveStart };
    assert.ok(slices.some((s) => s.kind === 'backfill' && s.endMs === liveStart) && slices.some((s) => s.kind === 'live' && s.startMs === liveStart), 'the backfill ends where the live range starts');
    // Rows exactly on each boundary (before any slice ran), one message per boundary with two recipients.
    sim.injectRows(t.tenantId, Object.entries(edges).flatMap(([name, ms], i) => [
      { receivedDateTime: iso7(ms), recipientAddress: `${name}.edge.a@contoso.com`, message: i },
      { receivedDateTime: iso7(ms), recipientAddress: `${name}.edge.b@contoso.com`, message: i },
    ]));

    await h.drain();

    const delivered = receiver.events.filter((e) => !e.update).map((e) => rowKey(e.tenantId, e.row));
    for (const [name, ms] of Object.entries(edges)) {
      const rows = sim.groundTruth(t.tenantId, ms, ms + 1).filter((r) => r.recipientAddress.includes('.edge.'));
      assert.equal(rows.length, 2, `${name}: two injected rows at ${new Date(ms).toISOString()}`);
      for (const r of rows) {
        const copies = delivered.filter((k) => k === rowKey(t.tenantId, r)).length;
        assert.equal(copies, 1, `${name} boundary row ${r.recipientAddress} at ${r.receivedDateTime} delivered ${copies} times`);
      }
    }
    // And the whole range is exact (nothing lost at the boundaries either).
    const cmp = compareDelivery(sim.groundTruth(t.tenantId, T0 - 12 * HOUR, T0 - 10 * 60_000, { asOf: h.clock.now() }).map((r) => rowKey(t.tenantId, r)), delivered);
    assert.deepEqual([cmp.missing, cmp.duplicate], [0, 0], JSON.stringify(cmp));
  });
});
