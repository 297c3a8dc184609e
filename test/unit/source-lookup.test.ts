/** The one source lookup of the HTTP functions (shared/http-api.ts): the source, or the one 404. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupSource } from '../../shared/http-api';

const config = { sources: [{ id: 'contoso' }, { id: 'fabrikam' }] };

test('a configured source is found', () => {
  assert.deepEqual(lookupSource(config, 'fabrikam'), { source: { id: 'fabrikam' } });
});

test('an unknown or missing name is a 404 naming the field and the configured sources', () => {
  assert.deepEqual(lookupSource(config, 'nosuch').notFound, {
    status: 404, body: { error: 'NotFound', field: 'source', message: 'no source "nosuch" is configured; the sources are "contoso", "fabrikam"' },
  });
  assert.equal(lookupSource(config, undefined).notFound?.body.message, 'no source "" is configured; the sources are "contoso", "fabrikam"');
  assert.equal(lookupSource({ sources: [] }, 'x').notFound?.body.message, 'no source "x" is configured; the sources are (none)');
});
