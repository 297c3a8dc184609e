/**
 * Source health moves by compare-and-swap on real Azurite, and a conditional move ("resume the
 * source if it is stopped") checks its condition inside that compare-and-swap.
 */
import { before, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment, type StorageClients } from '../../shared/state/storage';
import { ManualClock } from '../../shared/time/clock';
import { MemoryLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { setSourceState, type HealthDeps } from '../../shared/health';
import { testStorage, uniqueName } from '../support/azurite';

let storage: StorageClients;
before(async () => {
  storage = storageFromEnvironment({ JobsStorage: await testStorage() });
});

async function deps(): Promise<HealthDeps & { telemetry: MemoryTelemetry }> {
  const ledger = new Ledger(storage, uniqueName('hs'));
  await storage.ensure(ledger.tableNames(), []);
  return { ledger, clock: new ManualClock(Date.UTC(2026, 10, 21)), log: new MemoryLogger(), telemetry: new MemoryTelemetry() };
}

it('of 10 concurrent resumes of a stopped source exactly one writes and reports it', async () => {
  const d = await deps();
  await setSourceState(d, 'contoso', 'Error', { reason: 'stopped' });
  const results = await Promise.all(Array.from({ length: 10 }, () => setSourceState(d, 'contoso', 'Started', { onlyFrom: ['Error'], reason: 'resumed' })));
  assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
  assert.equal(d.telemetry.events.filter((e) => e.properties.state === 'Started').length, 1);
  assert.equal((await d.ledger.getHealth('contoso'))?.state, 'Started');
});

it('a resume decided on an old read does not undo a state another instance wrote since', async () => {
  const d = await deps();
  await setSourceState(d, 'contoso', 'Error', { reason: 'stopped' });
  const seen = (await d.ledger.getHealth('contoso'))!.state;
  assert.equal(seen, 'Error');
  await setSourceState(d, 'contoso', 'Collecting');
  assert.equal(await setSourceState(d, 'contoso', 'Started', { onlyFrom: ['Error'] }), false);
  assert.equal((await d.ledger.getHealth('contoso'))?.state, 'Collecting');
  assert.equal(await setSourceState(d, 'contoso', 'Error', { reason: 'again' }), true, 'an unconditional move still writes');
});
