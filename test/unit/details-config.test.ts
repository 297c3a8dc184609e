/**
 * The `details` block of a source (issue 17), and the Graph detail request: the URL (OData
 * quoting, encoding), the answer (events, nextLink) and its errors, classified as a page's are.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../shared/components';
import type { ConfigIssue } from '../../shared/config-common/types';
import { sourceConfigHash } from '../../shared/runtime';
import { GraphMessageTraceClient, parseGraphDetailResponse } from '../../shared/api/graph/client';
import { CollectorError } from '../../shared/errors';
import { qualifyingStatus } from '../../shared/details/admission';
import { DAY_MS } from '../../shared/time/expressions';

const TENANT = '8f2c1a9e-3b4d-4c6e-9f01-23456789abcd';
const CLIENT = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const ENV = { CONTOSO_SECRET: 'set' };

const source = (extra: Record<string, unknown> = {}) => ({
  id: 'contoso', tenantId: TENANT, auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef: 'env:CONTOSO_SECRET' }, destinations: ['siem'], ...extra,
});
const doc = (extra: Record<string, unknown> = {}) => ({ sources: [source(extra)], destinations: [{ id: 'siem', type: 'http', url: 'https://siem.example.com/ingest' }] });

function issuesOf(d: unknown): ConfigIssue[] {
  try {
    parseConfig(d, { env: ENV });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail('expected the configuration to be rejected');
}

function issueAt(issues: ConfigIssue[], path: string): string {
  const hit = issues.find((i) => i.path === path);
  assert.ok(hit, `no issue at ${path}: ${JSON.stringify(issues)}`);
  return hit.message;
}

describe('config: details', () => {
  it('is off and absent by default, so an existing source keeps its config hash', () => {
    const plain = parseConfig(doc(), { env: ENV }).config.sources[0]!;
    assert.equal(plain.details, undefined);
    assert.equal('details' in plain, false);
    const again = parseConfig(doc(), { env: ENV }).config.sources[0]!;
    assert.equal(sourceConfigHash(plain), sourceConfigHash(again));
    assert.notEqual(sourceConfigHash(parseConfig(doc({ details: { enabled: true } }), { env: ENV }).config.sources[0]!), sourceConfigHash(plain));
  });

  it('fills the defaults: failed, quarantined and filteredAsSpam, 2000 requests a day, any sender and recipient, 90 days', () => {
    const s = parseConfig(doc({ details: { enabled: true } }), { env: ENV }).config.sources[0]!;
    assert.deepEqual(s.details, { enabled: true, statuses: ['failed', 'quarantined', 'filteredAsSpam'], dailyRequestCap: 2000, senders: [], recipients: [], retentionMs: 90 * DAY_MS });
  });

  it('reads every field: statuses in any case, patterns lowercased', () => {
    const s = parseConfig(doc({ details: { enabled: true, statuses: ['Failed', 'FILTEREDASSPAM'], dailyRequestCap: 500, senders: ['*@Contoso.com'], recipients: ['Alice@contoso.com'], retention: '30d' } }), { env: ENV }).config.sources[0]!;
    assert.deepEqual(s.details, { enabled: true, statuses: ['failed', 'filteredAsSpam'], dailyRequestCap: 500, senders: ['*@contoso.com'], recipients: ['alice@contoso.com'], retentionMs: 30 * DAY_MS });
  });

  it('names the field and the fix for each mistake', () => {
    const issues = issuesOf(doc({ details: { enabled: 'yes', statuses: ['failed', 'bounced'], dailyRequestCap: 0, senders: ['contoso.com'], retention: '120d' } }));
    assert.match(issueAt(issues, 'sources[0].details.enabled'), /must be true or false/);
    assert.match(issueAt(issues, 'sources[0].details.statuses[1]'), /"bounced" is not a message trace status; use one of "gettingStatus", "pending", "failed"/);
    assert.match(issueAt(issues, 'sources[0].details.dailyRequestCap'), /must be a whole number from 1 to 100000/);
    assert.match(issueAt(issues, 'sources[0].details.senders[0]'), /is not an address pattern; write an address .* or use \* as a wildcard/);
    assert.match(issueAt(issues, 'sources[0].details.retention'), /it must be from 1 day to 90 days/);
    assert.match(issueAt(issuesOf(doc({ details: { statuses: [] } })), 'sources[0].details.statuses'), /at least one status.*"enabled": false/);
    assert.match(issueAt(issuesOf(doc({ details: true })), 'sources[0].details'), /must be an object such as \{"enabled": true/);
  });

  it('suggests the field for an unknown one, and says where a details field written a level too high belongs', () => {
    assert.match(issueAt(issuesOf(doc({ details: { enabled: true, dailyCap: 10 } })), 'sources[0].details.dailyCap'), /did you mean "dailyRequestCap"\?/);
    assert.match(issueAt(issuesOf(doc({ details: { enabled: true, statues: ['failed'] } })), 'sources[0].details.statues'), /did you mean "statuses"\?/);
    assert.match(issueAt(issuesOf(doc({ dailyRequestCap: 10 })), 'sources[0].dailyRequestCap'), /belongs inside "details"/);
    assert.match(issueAt(issuesOf(doc({ detail: { enabled: true } })), 'sources[0].detail'), /did you mean "details"\?/);
  });

  it('needs Graph: with "api": "rws" detail enrichment is a configuration error that says why', () => {
    const rws = { api: 'rws', cloud: 'gcchigh', details: { enabled: true } };
    assert.match(issueAt(issuesOf(doc(rws)), 'sources[0].details'), /detail enrichment needs Microsoft Graph \("api": "graph"\).*RWS MessageTraceDetail report is not built/);
    // Off, it is allowed (a block kept for later).
    assert.equal(parseConfig(doc({ ...rws, details: { enabled: false } }), { env: ENV }).config.sources[0]!.details?.enabled, false);
  });
});

describe('details: which rows qualify', () => {
  const opts = { enabled: true, statuses: ['failed', 'filteredAsSpam'], dailyRequestCap: 1, senders: [] as string[], recipients: [] as string[], retentionMs: DAY_MS };
  it('compares statuses case-insensitively (Graph beta is PascalCase)', () => {
    assert.equal(qualifyingStatus({ status: 'FilteredAsSpam', recipientAddress: 'a@b.c' }, opts), 'filteredasspam');
    assert.equal(qualifyingStatus({ status: 'failed', recipientAddress: 'a@b.c' }, opts), 'failed');
    assert.equal(qualifyingStatus({ status: 'Delivered', recipientAddress: 'a@b.c' }, opts), undefined);
    assert.equal(qualifyingStatus({ recipientAddress: 'a@b.c' }, opts), undefined);
  });
  it('applies the sender and recipient patterns (both must match when both are given)', () => {
    const filtered = { ...opts, senders: ['*@contoso.com'], recipients: ['alice@*', 'bob@fabrikam.com'] };
    assert.equal(qualifyingStatus({ status: 'failed', senderAddress: 'X@Contoso.com', recipientAddress: 'alice@fabrikam.com' }, filtered), 'failed');
    assert.equal(qualifyingStatus({ status: 'failed', senderAddress: 'x@contoso.com.evil', recipientAddress: 'alice@fabrikam.com' }, filtered), undefined);
    assert.equal(qualifyingStatus({ status: 'failed', senderAddress: 'x@contoso.com', recipientAddress: 'carol@fabrikam.com' }, filtered), undefined);
    assert.equal(qualifyingStatus({ status: 'failed', recipientAddress: 'alice@fabrikam.com' }, filtered), undefined, 'no sender: no match');
  });
});

describe('Graph getDetailsByRecipient', () => {
  const client = new GraphMessageTraceClient({ graphBaseUrl: 'https://graph.microsoft.com/', apiVersion: 'v1.0', scope: 'https://graph.microsoft.com/.default', credential: { getToken: async () => null } });
  it("builds the URL with the trace id as a segment and the recipient quoted: ' doubled, the rest encoded, @ as written", () => {
    assert.equal(
      client.detailUrl('4451a062-48cb-e80d-e8c0-196330437ae6', "o'brien+news@contoso.com"),
      "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces/4451a062-48cb-e80d-e8c0-196330437ae6/getDetailsByRecipient(recipientAddress='o''brien%2Bnews@contoso.com')",
    );
    assert.match(client.detailUrl('a/b', 'x y@c.com'), /messageTraces\/a%2Fb\/getDetailsByRecipient\(recipientAddress='x%20y@c\.com'\)$/);
  });

  const ok = (body: unknown) => parseGraphDetailResponse(200, {}, JSON.stringify(body), false);
  const fails = (status: number, body: string, headers: Record<string, string> = {}, continuation = false): CollectorError => {
    try {
      parseGraphDetailResponse(status, headers, body, continuation);
    } catch (err) {
      assert.ok(err instanceof CollectorError);
      return err;
    }
    assert.fail('expected an error');
  };

  it('reads the events in order and the nextLink; an empty value is an answer with no events', () => {
    const events = [{ event: 'Receive', dateTime: '2026-11-20T10:00:00Z', data: '<root/>' }, { event: 'Fail', dateTime: '2026-11-20T10:00:02Z' }];
    assert.deepEqual(ok({ value: events, '@odata.nextLink': 'https://graph.microsoft.com/v1.0/x?$skiptoken=2' }), { details: events, nextLink: 'https://graph.microsoft.com/v1.0/x?$skiptoken=2' });
    assert.deepEqual(ok({ value: [] }), { details: [] });
  });

  it('classifies failures as page requests are: HTML and truncated bodies retryable, 401, 403, 429 with Retry-After, 5xx', () => {
    assert.equal(fails(200, '<html><title>Sign in</title></html>').code, 'HtmlInsteadOfJson');
    assert.equal(fails(200, '{"value":[{"event":"Rec').code, 'InvalidJson');
    assert.equal(fails(200, '{"value":[{"dateTime":"x"}]}').code, 'UnexpectedShape');
    assert.equal(fails(200, '{"value":[], "@odata.nextLink": 3}').code, 'UnexpectedShape');
    const expired = fails(401, '{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}');
    assert.deepEqual([expired.type, expired.statusCode], ['ThirdPartyGeneric', 401]);
    assert.equal(fails(401, '{"error":{"message":"Service principal-less Authentication failed"}}').type, 'ThirdPartyConfig');
    assert.equal(fails(403, '{"error":{"code":"Forbidden"}}').type, 'ThirdPartyConfig');
    const throttled = fails(429, '{}', { 'retry-after': '7' });
    assert.deepEqual([throttled.code, throttled.retryAfterSec, throttled.retryable], ['Throttled', 7, true]);
    assert.equal(fails(503, '{}').retryable, true);
    assert.equal(fails(400, '{}', {}, true).code, 'CorruptNextLink');
  });

  it('does not send the token to a nextLink of another origin', async () => {
    await assert.rejects(client.fetchDetails({ kind: 'continuation', url: 'https://evil.example.com/x' }), (e: unknown) => e instanceof CollectorError && e.code === 'CorruptNextLink');
  });
});
