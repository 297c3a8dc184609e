/**
 * Issue 15: disabling a source is a real `Stopping` transition: the planner records it in the
 * source's health row and emits one `mtc.health` event, once, and plans nothing for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { JobQueue } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource } from '../../shared/planning/planner';
import { silentLogger } from '../../shared/log';
import { EVENTS, MemoryTelemetry } from '../../shared/telemetry';
import { sourceFixture } from '../support/fixtures';
import { testStorage, uniqueName } from '../support/azurite';

test('a source disabled after it ran moves to Stopping once, with a health event, and plans nothing', async () => {
  const storage = storageFromEnvironment({ JobsStorage: await testStorage() });
  const ledger = new Ledger(storage, uniqueName('t'));
  const queueName = uniqueName('q');
  await storage.ensure(ledger.tableNames(), [queueName]);
  const clock = new ManualClock(Date.UTC(2026, 10, 20, 12, 0, 0));
  const telemetry = new MemoryTelemetry();
  const deps = { ledger, queue: new JobQueue(storage.queue(queueName), clock), clock, log: silentLogger, telemetry, configHashOf: () => 'h1' };
  const source = sourceFixture({ start: { kind: 'relative', text: '-2h@h' } });
  assert.equal((await planSource(deps, source)).outcome, 'planned');
  assert.equal((await ledger.getHealth(source.id))?.state, 'Initialized');

  const disabled = { ...source, enabled: false };
  assert.equal((await planSource(deps, disabled)).outcome, 'disabled');
  assert.equal((await planSource(deps, disabled)).outcome, 'disabled');
  const health = await ledger.getHealth(source.id);
  assert.equal(health?.state, 'Stopping');
  const events = telemetry.events.filter((e) => e.name === EVENTS.health && e.properties.state === 'Stopping');
  assert.equal(events.length, 1, 'one health event for the transition');
  assert.equal(events[0]!.properties.previousState, 'Initialized');
});
