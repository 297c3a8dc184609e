// The per-source stagger of periodic tasks (shared/time/stagger.ts): sources named alike spread
// over the whole period, so a deployment's sweeps and prunes do not fall in one timer run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { staggerMs } from '../../shared/time/stagger';

test('sources named alike (customer-000 to customer-999) spread over the period: no minute of 15 holds more than twice its share', () => {
  const period = 15 * 60_000;
  for (const names of [
    Array.from({ length: 1000 }, (_, i) => `customer-${String(i).padStart(3, '0')}`),
    Array.from({ length: 1000 }, (_, i) => `t${i}`),
    Array.from({ length: 1000 }, (_, i) => `${'contoso'.slice(0, 1 + (i % 7))}${i}`),
  ]) {
    const minutes = new Array(15).fill(0);
    for (const n of names) {
      const s = staggerMs(n, period);
      assert.ok(Number.isInteger(s) && s >= 0 && s < period, `${n}: ${s}`);
      minutes[Math.floor(s / 60_000)]++;
    }
    const share = names.length / 15;
    assert.ok(Math.max(...minutes) <= 2 * share, `${names[0]}...: per minute ${minutes.join(' ')}`);
    assert.ok(Math.min(...minutes) >= share / 2, `${names[0]}...: per minute ${minutes.join(' ')}`);
  }
});

test('the stagger is the same for a key every time (every process agrees) and 0 for a period of 0', () => {
  assert.equal(staggerMs('contoso', 900_000), staggerMs('contoso', 900_000));
  assert.notEqual(staggerMs('contoso', 900_000), staggerMs('fabrikam', 900_000));
  assert.equal(staggerMs('contoso', 0), 0);
});
