/**
 * ManualClock: the virtual-time clock of the benchmark and the tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { ManualClock } from '../../shared/time/clock';

test('a sleep wakes when the clock reaches its time, and an abort ends it early', async () => {
  const clock = new ManualClock(1_000);
  let woke = false;
  const p = clock.sleep(500).then(() => { woke = true; });
  clock.set(1_499);
  await Promise.resolve();
  assert.equal(woke, false);
  assert.equal(clock.nextWakeUp(), 1_500);
  clock.set(1_500);
  await p;
  assert.equal(woke, true);
  const ac = new AbortController();
  const q = clock.sleep(10_000, ac.signal);
  assert.equal(clock.pendingSleeps(), 1);
  ac.abort();
  await q;
  assert.equal(clock.pendingSleeps(), 0);
});

test('sleeps that end normally leave no abort listener on a reused signal', async () => {
  // A long benchmark run sleeps thousands of times on one signal; each finished sleep must remove its listener.
  const clock = new ManualClock(0);
  const ac = new AbortController();
  for (let i = 0; i < 2_000; i++) {
    const p = clock.sleep(1_000, ac.signal);
    clock.advance(1_000);
    await p;
  }
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});
