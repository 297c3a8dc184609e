/**
 * The runtime's app settings are read once, typed and checked (shared/settings.ts): defaults when
 * unset, numbers as numbers, and a bad value stops the start with an error naming the setting, what
 * it must be and the fix. createRuntime checks them before it touches storage or the configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APP_SETTINGS, RUNTIME_SETTINGS, SettingError, readSettings } from '../../shared/settings';
import { createRuntime } from '../../shared/runtime';

test('unset and empty settings take their defaults; set ones are typed', () => {
  assert.deepEqual(readSettings({}), {
    pageQueue: 'page-jobs', tablePrefix: 'mtc', budgetLimit: undefined, budgetWindowSeconds: undefined, budgetHeadroom: undefined,
    detailReserve: undefined, detailReserveFactor: undefined, claimTtlSeconds: 60, outboxStaleSeconds: 120, pageBatchMax: 8, planConcurrency: 32, traceSampling: 0.25, localLockSeconds: undefined,
  });
  assert.equal(readSettings({ MTC_CLAIM_TTL_SECONDS: '' }).claimTtlSeconds, 60);
  const s = readSettings({
    MTC_PAGE_QUEUE: 'jobs-2', MTC_TABLE_PREFIX: 'e2e1', MTC_BUDGET_LIMIT: '10000', MTC_BUDGET_WINDOW_SECONDS: '60',
    MTC_BUDGET_HEADROOM: '0.25', MTC_CLAIM_TTL_SECONDS: ' 6 ', MTC_OUTBOX_STALE_SECONDS: '3', MTC_LOCAL_LOCK_SECONDS: '3',
    MTC_BUDGET_DETAIL_RESERVE: '20', MTC_BUDGET_DETAIL_RESERVE_FACTOR: '1.5', MTC_PAGE_BATCH_MAX: '1', MTC_TRACE_SAMPLING: '1', MTC_PLAN_CONCURRENCY: '4',
  });
  assert.deepEqual(s, {
    pageQueue: 'jobs-2', tablePrefix: 'e2e1', budgetLimit: 10_000, budgetWindowSeconds: 60, budgetHeadroom: 0.25,
    detailReserve: 20, detailReserveFactor: 1.5, claimTtlSeconds: 6, outboxStaleSeconds: 3, pageBatchMax: 1, planConcurrency: 4, traceSampling: 1, localLockSeconds: 3,
  });
});

test('a bad setting is rejected with its name, what it must be and the fix', () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ MTC_CLAIM_TTL_SECONDS: 'sixty' }, 'MTC_CLAIM_TTL_SECONDS', /is "sixty", but it must be a whole number from 1 to 3600\. Fix: set MTC_CLAIM_TTL_SECONDS to a valid value \(for example 60\), or remove it to use the default 60\./],
    [{ MTC_CLAIM_TTL_SECONDS: '0' }, 'MTC_CLAIM_TTL_SECONDS', /must be a whole number from 1 to 3600/],
    [{ MTC_OUTBOX_STALE_SECONDS: '2.5' }, 'MTC_OUTBOX_STALE_SECONDS', /must be a whole number/],
    [{ MTC_BUDGET_LIMIT: '-1' }, 'MTC_BUDGET_LIMIT', /must be a whole number from 1 to 10000.*remove it to use its built-in default/],
    [{ MTC_BUDGET_HEADROOM: '1' }, 'MTC_BUDGET_HEADROOM', /must be a number from 0 to 0\.99/],
    [{ MTC_TABLE_PREFIX: 'bad-prefix' }, 'MTC_TABLE_PREFIX', /must be letters and digits, starting with a letter/],
    [{ MTC_PAGE_QUEUE: 'Page_Jobs' }, 'MTC_PAGE_QUEUE', /must be 3 to 49 lowercase letters, digits and single hyphens/],
    [{ MTC_PAGE_QUEUE: 'page--jobs' }, 'MTC_PAGE_QUEUE', /single hyphens/],
    [{ MTC_PAGE_BATCH_MAX: '33' }, 'MTC_PAGE_BATCH_MAX', /must be a whole number from 1 to 32.*remove it to use the default 8/],
    [{ MTC_PAGE_BATCH_MAX: '0' }, 'MTC_PAGE_BATCH_MAX', /must be a whole number from 1 to 32/],
  ];
  for (const [env, name, message] of cases) {
    assert.throws(() => readSettings(env), (err: unknown) => {
      assert.ok(err instanceof SettingError, `${name}: ${String(err)}`);
      assert.equal(err.setting, name);
      assert.match(err.message, new RegExp(`^App setting ${name} `));
      assert.match(err.message, message);
      return true;
    });
  }
});

test('a long bad value is shortened in the error', () => {
  assert.throws(() => readSettings({ MTC_TABLE_PREFIX: `a-${'x'.repeat(200)}` }), (err: Error) => err.message.length < 400 && /…"/.test(err.message));
});

test('createRuntime stops on a bad setting before it reads the configuration or storage', async () => {
  // No configuration and no storage are given: the setting error must come first.
  await assert.rejects(createRuntime({ env: { MTC_BUDGET_WINDOW_SECONDS: '5m' } }), (err: unknown) => {
    assert.ok(err instanceof SettingError);
    assert.equal(err.setting, 'MTC_BUDGET_WINDOW_SECONDS');
    assert.match(err.message, /is "5m", but it must be a whole number from 1 to 86400/);
    return true;
  });
});

test('every typed setting is declared for the docs and the Bicep check', () => {
  const declared = new Set(APP_SETTINGS.map((s) => s.name));
  for (const s of Object.values(RUNTIME_SETTINGS)) assert.ok(declared.has(s.name), s.name);
});
