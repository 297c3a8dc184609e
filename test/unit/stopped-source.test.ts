/**
 * The error a stopped source's page jobs park with, read back from the health row's lastError
 * (`CollectorError.toHealth()` as JSON) with a schema, never an unchecked cast.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { thirdPartyConfig } from '../../shared/errors';
import { stoppedSourceError } from '../../shared/worker/stages/guard';

describe('stopped-source error', () => {
  it('carries the stop\'s code, message and fix', () => {
    const stop = thirdPartyConfig('the service principal has no Exchange role', { code: 'Forbidden', fix: 'Assign the role, then replay.' });
    const e = stoppedSourceError('contoso', JSON.stringify(stop.toHealth()));
    assert.deepEqual([e.type, e.code, e.message, e.fix, e.retryable], ['ThirdPartyConfig', 'Forbidden', 'the source is stopped: the service principal has no Exchange role', 'Assign the role, then replay.', false]);
  });

  it('an empty record still stops the source, as SourceStopped', () => {
    const e = stoppedSourceError('contoso', '');
    assert.deepEqual([e.type, e.code, e.message, e.fix], ['ThirdPartyConfig', 'SourceStopped', 'the source is stopped: configuration error', undefined]);
  });

  it('a damaged record still stops the source and says which field is unreadable and what to do', () => {
    const notJson = stoppedSourceError('contoso', '{"code":');
    assert.equal(notJson.code, 'SourceStopped');
    assert.match(notJson.message, /lastError is unreadable: not JSON/);
    assert.match(notJson.fix ?? '', /POST \/api\/sources\/contoso\/replay/);
    const wrongType = stoppedSourceError('contoso', JSON.stringify({ code: 42, message: 'x' }));
    assert.equal(wrongType.code, 'SourceStopped');
    assert.match(wrongType.message, /unreadable: code: /);
    const notObject = stoppedSourceError('contoso', '"text"');
    assert.match(notObject.message, /unreadable: \(record\): /);
  });
});
