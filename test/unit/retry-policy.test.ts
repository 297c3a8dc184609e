/**
 * Issue 15, "every documented option does what it says": the retry options of docs/configuration.md
 * (mode backoff / static / none, initialInterval, multiplier, maxInterval, retryAfterCap,
 * statusCodes), parsed from a configuration document and applied by the worker's retry decisions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retrySchema, toRetryPolicy } from '../../shared/config-common/retry';
import { policyRetries, retryDelayMs } from '../../shared/worker/retry';
import { CollectorError, firstPartyGeneric, thirdPartyConfig, thirdPartyGeneric } from '../../shared/errors';

const policy = (doc: Record<string, unknown>) => toRetryPolicy(retrySchema.parse(doc));
const httpError = (status: number, retryable: boolean) => new CollectorError('FirstPartyGeneric', `HTTP ${status}`, { code: `Http${status}`, statusCode: status, retryable });

describe('retry options', () => {
  it('backoff grows by the multiplier from initialInterval up to maxInterval', () => {
    const p = policy({ mode: 'backoff', initialInterval: '2s', multiplier: 3, maxInterval: '1m' });
    assert.deepEqual([0, 1, 2, 3, 4].map((a) => retryDelayMs(p, a)), [2_000, 6_000, 18_000, 54_000, 60_000]);
  });

  it('static waits initialInterval every time, whatever the multiplier', () => {
    const p = policy({ mode: 'static', initialInterval: '7s', multiplier: 4 });
    assert.deepEqual([0, 1, 5].map((a) => retryDelayMs(p, a)), [7_000, 7_000, 7_000]);
    assert.equal(policyRetries(p, thirdPartyGeneric('reset', { code: 'ECONNRESET' })), true);
  });

  it('none retries nothing, not even a 503 or a reset', () => {
    const p = policy({ mode: 'none' });
    assert.equal(policyRetries(p, httpError(503, true)), false);
    assert.equal(policyRetries(p, thirdPartyGeneric('reset', { code: 'ECONNRESET' })), false);
  });

  it('Retry-After is honoured up to retryAfterCap', () => {
    const p = policy({ retryAfterCap: '30s' });
    assert.equal(retryDelayMs(p, 0, 12), 12_000);
    assert.equal(retryDelayMs(p, 0, 3600), 30_000);
  });

  it('statusCodes can add codes: a listed 404 or 409 is retried, unlisted it is not', () => {
    const dflt = policy({});
    const added = policy({ statusCodes: [404, 409, 429, 503] });
    for (const status of [404, 409]) {
      assert.equal(policyRetries(dflt, httpError(status, false)), false, `${status} is not retried by default`);
      assert.equal(policyRetries(added, httpError(status, false)), true, `${status} listed is retried`);
    }
  });

  it('statusCodes can narrow: an unlisted 500 is not retried', () => {
    const p = policy({ statusCodes: [429] });
    assert.equal(policyRetries(p, httpError(500, true)), false);
    assert.equal(policyRetries(p, httpError(429, true)), true);
  });

  it('a setup error is never retried, even when its status is listed', () => {
    const p = policy({ statusCodes: [401, 403] });
    assert.equal(policyRetries(p, thirdPartyConfig('no permission', { code: 'MissingPermission', statusCode: 403 })), false);
    assert.equal(policyRetries(p, firstPartyGeneric('forbidden', { code: 'Http403', statusCode: 403, retryable: false })), true);
  });
});
