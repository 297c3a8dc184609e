import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGraphResponse, retryAfterSeconds, classifyTokenError } from '../../shared/api/graph/client';
import { CollectorError } from '../../shared/errors';
import { eventIdOf, receivedMs, rowKey } from '../../shared/model/row';

const row = { id: 'a3f6', recipientAddress: 'Bob@Contoso.com', receivedDateTime: '2026-11-20T10:00:00.1234567Z', status: 'delivered', size: 10, toIP: '' };

function rejects(fn: () => unknown, check: (e: CollectorError) => void): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CollectorError, `expected a CollectorError, got ${String(err)}`);
    check(err);
    return;
  }
  assert.fail('expected an error');
}

test('a JSON page with a value array gives its rows and nextLink', () => {
  const r = parseGraphResponse(200, {}, JSON.stringify({ value: [row], '@odata.nextLink': 'https://g/x?$skiptoken=1' }), false);
  assert.equal(r.rows.length, 1);
  assert.equal(r.nextLink, 'https://g/x?$skiptoken=1');
});

test('an HTML sign-in page with status 200 is a retryable ThirdPartyGeneric error with an excerpt', () => {
  rejects(() => parseGraphResponse(200, {}, '<html><head><title>Sign in to Outlook</title></head></html>', false), (e) => {
    assert.equal(e.type, 'ThirdPartyGeneric');
    assert.equal(e.code, 'HtmlInsteadOfJson');
    assert.equal(e.retryable, true);
    assert.match(e.excerpt!, /Sign in to Outlook/);
  });
});

test('truncated JSON and a body without a value array are retryable shape errors', () => {
  rejects(() => parseGraphResponse(200, {}, '{"value":[{"id":"x"', false), (e) => assert.equal(e.code, 'InvalidJson'));
  rejects(() => parseGraphResponse(200, {}, '{"items":[]}', false), (e) => assert.equal(e.code, 'UnexpectedShape'));
  rejects(() => parseGraphResponse(200, {}, '{"value":[{"id":"x"}]}', false), (e) => assert.equal(e.code, 'UnexpectedShape'));
});

test('a missing service principal is ThirdPartyConfig with the command that creates it', () => {
  const body = JSON.stringify({ error: { code: 'Unauthorized', message: 'Service principal-less Authentication failed: the service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found.' } });
  rejects(() => parseGraphResponse(401, {}, body, false), (e) => {
    assert.equal(e.type, 'ThirdPartyConfig');
    assert.equal(e.code, 'MissingServicePrincipal');
    assert.match(e.fix!, /az ad sp create --id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373/);
    assert.match(e.fix!, /several hours/);
  });
});

test('403 names the permission and admin consent; 429 carries Retry-After; 400 on a continuation is a corrupt nextLink', () => {
  rejects(() => parseGraphResponse(403, {}, '{"error":{"code":"Forbidden","message":"no"}}', false), (e) => {
    assert.equal(e.type, 'ThirdPartyConfig');
    assert.match(e.message, /ExchangeMessageTrace\.Read\.All/);
    assert.match(e.fix!, /admin consent/);
  });
  rejects(() => parseGraphResponse(429, { 'retry-after': '17' }, '{"error":{"code":"TooManyRequests","message":"slow"}}', false), (e) => {
    assert.equal(e.retryAfterSec, 17);
    assert.equal(e.retryable, true);
  });
  rejects(() => parseGraphResponse(400, {}, '{"error":{"code":"BadRequest","message":"Cannot process argument transformation on parameter \'StartDate\'"}}', true), (e) => {
    assert.equal(e.code, 'CorruptNextLink');
    assert.equal(e.retryable, true);
  });
  rejects(() => parseGraphResponse(400, {}, '{"error":{"code":"BadRequest","message":"bad filter"}}', false), (e) => assert.equal(e.retryable, false));
});

test('Retry-After accepts seconds and HTTP dates', () => {
  assert.equal(retryAfterSeconds('30'), 30);
  assert.equal(retryAfterSeconds(new Date(Date.UTC(2026, 0, 1, 0, 1)).toUTCString(), Date.UTC(2026, 0, 1, 0, 0)), 60);
  assert.equal(retryAfterSeconds(undefined), undefined);
});

test('a wrong client secret is a ThirdPartyConfig error that says which secret to update', () => {
  const e = classifyTokenError(new Error('AADSTS7000215: Invalid client secret provided.'));
  assert.equal(e.type, 'ThirdPartyConfig');
  assert.match(e.fix!, /clientSecretRef/);
});

test('the row key is (tenant, id, recipient), case-insensitive on the recipient, and the event id changes with status', () => {
  const t = 'tenant-1';
  assert.equal(rowKey(t, row), rowKey(t, { ...row, recipientAddress: 'bob@contoso.com' }));
  assert.notEqual(rowKey(t, row), rowKey(t, { ...row, recipientAddress: 'carol@contoso.com' }));
  assert.notEqual(rowKey(t, row), rowKey('tenant-2', row));
  assert.equal(eventIdOf(t, row), eventIdOf(t, { ...row }));
  assert.notEqual(eventIdOf(t, row), eventIdOf(t, { ...row, status: 'failed' }));
  assert.equal(eventIdOf(t, row), eventIdOf(t, { ...row, status: 'Delivered' }), 'status case (v1.0 vs beta) does not change the id');
});

test('receivedDateTime parses 7 fractional digits, no fraction and a missing zone as UTC', () => {
  assert.equal(receivedMs('2026-11-20T10:00:00.1234567Z'), Date.UTC(2026, 10, 20, 10, 0, 0, 123));
  assert.equal(receivedMs('2026-11-20T10:00:00Z'), Date.UTC(2026, 10, 20, 10, 0, 0));
  assert.equal(receivedMs('2026-11-20T10:00:00.5'), Date.UTC(2026, 10, 20, 10, 0, 0, 500));
  assert.ok(Number.isNaN(receivedMs('yesterday')));
});
