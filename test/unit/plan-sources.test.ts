/**
 * A timer run's planning step plans MTC_PLAN_CONCURRENCY sources at once (planSources), each
 * source once, whatever the count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSources } from '../../shared/planning/plan-tick';
import type { PlannerDeps } from '../../shared/planning/planner';
import type { SourceConfig } from '../../shared/components';
import { readSettings } from '../../shared/settings';

async function peak(concurrency: number, count: number, pageBatchMax = 1): Promise<{ peak: number; planned: string[] }> {
  const sources = Array.from({ length: count }, (_, i) => ({ id: `s${i}` }) as SourceConfig);
  let running = 0, most = 0;
  const planned: string[] = [];
  // The run's one query per table (prefetch.ts) finds no rows here.
  const none = async function* () { /* no rows */ };
  const deps = { queue: { send: async () => undefined }, ledger: { listCursors: none, listHealth: none } } as unknown as PlannerDeps;
  await planSources(deps, sources, { pageBatchMax, planConcurrency: concurrency }, async (_d, source) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 5));
    planned.push(source.id);
    running--;
  });
  return { peak: most, planned: planned.sort() };
}

test('the planning step plans MTC_PLAN_CONCURRENCY sources at once, each once', async () => {
  const all = Array.from({ length: 40 }, (_, i) => `s${i}`).sort();
  assert.deepEqual(await peak(3, 40), { peak: 3, planned: all });
  assert.deepEqual(await peak(32, 40), { peak: 32, planned: all });
  assert.deepEqual(await peak(32, 40, 8), { peak: 32, planned: all }, 'with page batches too');
  assert.deepEqual(await peak(64, 5), { peak: 5, planned: ['s0', 's1', 's2', 's3', 's4'] });
  assert.equal(readSettings({}).planConcurrency, 32, 'the default');
  assert.throws(() => readSettings({ MTC_PLAN_CONCURRENCY: '0' }), /MTC_PLAN_CONCURRENCY is "0", but it must be a whole number from 1 to 128/);
});
