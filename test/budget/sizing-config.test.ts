/**
 * The worker counts in host.json and the Bicep's default scale-out cap come from the tenant budget
 * (shared/budget/sizing.ts), not from guesses: this test keeps them in step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { deriveConcurrency } from '../../shared/budget';

const ROOT = path.resolve(__dirname, '..', '..', '..');

test('host.json runs as many queue messages per instance as the budget-derived plan', () => {
  const host = JSON.parse(fs.readFileSync(path.join(ROOT, 'host.json'), 'utf8')) as { extensions: { queues: { batchSize: number; newBatchThreshold: number } } };
  const plan = deriveConcurrency({ tenants: 24, pageLatencyMs: 3000 });
  assert.equal(host.extensions.queues.batchSize, plan.batchSize);
  assert.equal(host.extensions.queues.newBatchThreshold, plan.newBatchThreshold);
});

test('the Bicep default maximumInstanceCount covers the budget-derived instance count for any number of tenants', () => {
  const bicep = fs.readFileSync(path.join(ROOT, 'infra', 'main.bicep'), 'utf8');
  const m = /param maximumInstanceCount int = max\(1, \(expectedTenantCount \+ (\d+)\) \/ (\d+)\)/.exec(bicep);
  assert.ok(m, 'main.bicep derives maximumInstanceCount from expectedTenantCount');
  const [add, div] = [Number(m[1]), Number(m[2])];
  for (const tenants of [1, 3, 6, 12, 24, 50, 100, 300]) {
    const bicepDefault = Math.max(1, Math.floor((tenants + add) / div));
    const needed = deriveConcurrency({ tenants, pageLatencyMs: 3000 }).maximumInstanceCount;
    assert.ok(bicepDefault >= needed, `${tenants} tenants: Bicep default ${bicepDefault} < ${needed} instances the budget can keep busy`);
    assert.ok(bicepDefault <= 2 * needed + 1, `${tenants} tenants: Bicep default ${bicepDefault} is far above the ${needed} the budget can use`);
  }
});
