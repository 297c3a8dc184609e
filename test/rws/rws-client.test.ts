/** RWS response parsing: both JSON shapes, both date forms, and the end-of-data rules (reference A.3, A.4). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRwsDate, parseRwsResponse, rwsDateToIso } from '../../shared/api/rws/client';

const URL1 = 'https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$filter=x&$top=2';
const rec = (i: number, received: string) => ({ Organization: 'contoso.com', MessageId: `<${i}@x>`, Received: received, SenderAddress: 's@x', RecipientAddress: `r${i}@contoso.com`, Subject: 'S', Status: 'FilteredAsSpam', ToIP: null, FromIP: '1.1.1.1', Size: 10, MessageTraceId: 'CF7A249A-5EDD-4350-130A-08DA8F69E0F6', Index: i });

describe('RWS client', () => {
  it('reads /Date(ms)/ with or without escaped slashes, and 7-digit ISO dates with or without Z as UTC', () => {
    assert.equal(parseRwsDate('/Date(1659020996164)/'), 1659020996164);
    assert.equal(parseRwsDate('\\/Date(1659020996164)\\/'), 1659020996164);
    assert.equal(parseRwsDate('2022-09-05T18:10:13.4907658'), Date.UTC(2022, 8, 5, 18, 10, 13, 490));
    assert.equal(parseRwsDate('2022-09-05T18:10:13.4907658Z'), Date.UTC(2022, 8, 5, 18, 10, 13, 490));
    assert.equal(rwsDateToIso('2022-09-05T18:10:13.4907658'), '2022-09-05T18:10:13.4907658Z');
    assert.ok(Number.isNaN(parseRwsDate('yesterday')));
  });

  it('normalises JSON light rows to the Graph shape and keeps the legacy record as raw', () => {
    const body = JSON.stringify({ 'odata.metadata': 'm', value: [rec(0, '2022-09-05T18:10:13.4907658'), rec(1, '2022-09-05T18:10:14Z')], 'odata.nextLink': '../../ReportingWebService/Reporting.svc/MessageTrace?$skiptoken=2' });
    const page = parseRwsResponse(200, {}, body, URL1);
    assert.equal(page.rows[0]!.id, 'cf7a249a-5edd-4350-130a-08da8f69e0f6');
    assert.equal(page.rows[0]!.status, 'filteredAsSpam');
    assert.equal(page.rows[0]!.toIP, '');
    assert.equal((page.raws![0] as Record<string, unknown>).Received, '2022-09-05T18:10:13.4907658');
    assert.equal(page.nextLink, 'https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/MessageTrace?$skiptoken=2');
  });

  it('reads verbose d.results with d.__next and drops __metadata from raw', () => {
    const body = JSON.stringify({ d: { results: [{ __metadata: { id: 'x' }, ...rec(0, '/Date(1659020996164)/') }], __next: `${URL1.split('?')[0]}?$skiptoken=1` } });
    const page = parseRwsResponse(200, {}, body, URL1);
    assert.equal(page.rows[0]!.receivedDateTime, '2022-07-28T15:09:56.164Z');
    assert.equal('__metadata' in (page.raws![0] as object), false);
    assert.match(page.nextLink!, /\$skiptoken=1$/);
  });

  it('ends on an empty page or a short page without a next link, and asks for more after a full one', () => {
    assert.equal(parseRwsResponse(200, {}, JSON.stringify({ value: [] }), URL1).nextLink, undefined);
    assert.equal(parseRwsResponse(200, {}, JSON.stringify({ value: [rec(0, '2022-09-05T18:10:13Z')] }), URL1).nextLink, undefined);
    const full = parseRwsResponse(200, {}, JSON.stringify({ value: [rec(0, '2022-09-05T18:10:13Z'), rec(1, '2022-09-05T18:10:13Z')] }), `${URL1}&$skiptoken=4`);
    assert.match(full.nextLink!, /\$top=2&\$skiptoken=6$/);
    const skip = parseRwsResponse(200, {}, JSON.stringify({ value: [rec(0, '2022-09-05T18:10:13Z'), rec(1, '2022-09-05T18:10:13Z')] }), URL1, 'skip');
    assert.match(skip.nextLink!, /\$skip=2$/);
  });

  it('maps the RWS 403 to a ThirdPartyConfig error and the Sign in to Outlook page to a retryable one', () => {
    assert.throws(() => parseRwsResponse(403, {}, '{"ErrorCode":"","Message":"No permission to access the report for the organization ."}', URL1), (e: unknown) => (e as { type: string; code: string }).type === 'ThirdPartyConfig' && (e as { code: string }).code === 'RwsForbidden');
    assert.throws(() => parseRwsResponse(200, {}, '<html><title>Sign in to Outlook</title></html>', URL1), (e: unknown) => (e as { retryable: boolean; code: string }).retryable && (e as { code: string }).code === 'HtmlInsteadOfJson');
  });
});
