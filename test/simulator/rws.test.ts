/**
 * The legacy RWS MessageTrace report against reference sections A.1 (path), A.3 (query syntax and
 * shapes), A.4 (responses, paging), A.5 (fields), A.7 (look-back) and A.8 (errors).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Simulator } from '../../simulator/index';
import { DAY, get, getToken, HOUR, startTestSimulator, T0, uniqueKeys } from './sim-client';

const JSON_ACCEPT = { accept: 'application/json' };
const dt = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';

describe('RWS MessageTrace', () => {
  let sim: Simulator;
  let tenantId: string;
  let token: string;
  before(async () => {
    ({ sim, tenantId } = await startTestSimulator({ tenants: [{ rowsPerDay: 20_000 }], throttle: { limit: 10_000, windowMs: 300_000 } }));
    token = await getToken(sim, 'https://outlook.office365.com');
  });
  after(() => sim.stop());

  const report = (query: string, headers: Record<string, string> = JSON_ACCEPT, path = '/MessageTrace') => get(`${sim.rwsBaseUrl}${path}?${query}`, token, headers);
  const windowQuery = (s: number, e: number, sep = '%20') =>
    `$filter=StartDate${sep}eq${sep}datetime'${dt(s)}'${sep}and${sep}EndDate${sep}eq${sep}datetime'${dt(e)}'`;

  test('JSON light (Accept: application/json, no $format): odata.metadata, value, echoed dates, Index, ToIP null for inbound (A.4, A.5)', async () => {
    const s = T0 - 6 * HOUR;
    const e = T0 - 5 * HOUR;
    const r = await report(`${windowQuery(s, e)}&$top=100`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.json['odata.metadata'], /\/ecp\/ReportingWebService\/Reporting\.svc\/\$metadata#MessageTrace$/);
    assert.equal(r.json.value.length, 100);
    const keys = ['EndDate', 'FromIP', 'Index', 'MessageId', 'MessageTraceId', 'Organization', 'Received', 'RecipientAddress', 'SenderAddress', 'Size', 'StartDate', 'Status', 'Subject', 'ToIP'];
    r.json.value.forEach((row: Record<string, unknown>, i: number) => {
      assert.deepEqual(Object.keys(row).sort(), keys);
      assert.equal(row.Index, i);
      assert.equal(row.StartDate, new Date(s).toISOString().replace('Z', '0000Z'));
      assert.equal(row.EndDate, new Date(e).toISOString().replace('Z', '0000Z'));
      assert.match(String(row.Received), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z?$/);
      assert.match(String(row.Status), /^[A-Z]/);
    });
    assert.ok(r.json.value.some((row: { Received: string }) => !row.Received.endsWith('Z')), 'some Received values lack the Z');
    assert.ok(r.json.value.some((row: { ToIP: unknown }) => row.ToIP === null));
    assert.match(r.json['odata.nextLink'], /\$skiptoken=100$/);
  });

  test('verbose JSON ($format=json): d.results with __metadata and "\\/Date(ms)\\/" on the wire (A.3, A.4)', async () => {
    const s = T0 - 6 * HOUR;
    const r = await report(`${windowQuery(s, T0 - 5 * HOUR)}&$top=5&$format=json`, {});
    assert.equal(r.status, 200, r.text);
    assert.ok(r.text.includes(`"StartDate":"\\/Date(${s})\\/"`), 'escaped slashes on the wire');
    const first = r.json.d.results[0];
    assert.equal(first.__metadata.type, 'TenantReporting.MessageTrace');
    assert.match(first.__metadata.uri, /\/MessageTrace\(0\)$/);
    assert.match(first.Received, /^\/Date\(\d+\)\/$/);
    assert.equal(first.StartDate, `/Date(${s})/`);
  });

  test('neither Accept JSON nor $format gives the Atom feed (A.3)', async () => {
    const r = await report(`${windowQuery(T0 - 6 * HOUR, T0 - 5 * HOUR)}&$top=2`, {});
    assert.equal(r.status, 200);
    assert.match(r.text, /^<\?xml .*<feed .*<m:properties>.*<d:MessageTraceId m:type="Edm.Guid">/);
  });

  test('paging with the integer skiptoken up to the empty page returns the ground truth exactly (A.3, A.4)', async () => {
    const s = T0 - 8 * HOUR;
    const e = T0 - 5 * HOUR;
    const rows: { MessageTraceId: string; RecipientAddress: string; Index: number }[] = [];
    let url: string | undefined = `${sim.rwsBaseUrl}/MessageTrace?${windowQuery(s, e, '+')}&$top=500`;
    let pages = 0;
    let lastPageLength = -1;
    while (url) {
      const r = await get(url, token, JSON_ACCEPT);
      assert.equal(r.status, 200, r.text);
      pages++;
      rows.push(...r.json.value);
      lastPageLength = r.json.value.length;
      url = r.json['odata.nextLink'];
    }
    assert.equal(lastPageLength, 0, 'the end of data is an empty value array');
    assert.deepEqual(rows.map((r) => r.Index), rows.map((_, i) => i), 'Index is global by default');
    // Both window ends are inclusive, at second precision here.
    const truth = sim.groundTruth(tenantId, s, e + 1000);
    assert.equal(rows.length, truth.length);
    assert.deepEqual(uniqueKeys(rows.map((r) => ({ id: r.MessageTraceId, recipientAddress: r.RecipientAddress }))), uniqueKeys(truth));
    assert.ok(pages > 2);
  });

  test('accepts every datetime literal form of A.3, the parenthesised form and a case-insensitive path', async () => {
    const day = '2026-02-28';
    const forms = [
      `StartDate eq datetime'${day}T10:00:00Z' and EndDate eq datetime'${day}T11:00:00Z'`,
      `StartDate eq datetime'${day}T10:00:00+00:00' and EndDate eq datetime'${day}T11:00:00.000000+00:00'`,
      `StartDate eq datetime'${day}T10:00:00' and EndDate eq datetime'${day}T11:00:00'`,
      `(StartDate eq datetime'${day}T10:00:00Z') and (EndDate eq datetime'${day}T11:00:00Z')`,
    ];
    const counts = [];
    for (const f of forms) {
      const r = await report(`$filter=${encodeURIComponent(f)}&$top=2000`, JSON_ACCEPT, '/messagetrace');
      assert.equal(r.status, 200, `${f}: ${r.text}`);
      counts.push(r.json.value.length);
    }
    assert.equal(new Set(counts).size, 1, `all forms select the same rows: ${counts}`);
    const dateOnly = await report(`$filter=${encodeURIComponent(`StartDate eq datetime'${day}' and EndDate eq datetime'2026-02-28T23:59:59Z'`)}`);
    assert.equal(dateOnly.status, 200);
    assert.equal(dateOnly.json.value[dateOnly.json.value.length - 1].Received.slice(0, 10), day);
    const upper = await get(`${sim.baseUrl}/ecp/ReportingWebService/Reporting.svc/MessageTrace?$top=1`, token, JSON_ACCEPT);
    assert.equal(upper.status, 200);
  });

  test('other eq clauses filter (SenderAddress, RecipientAddress, Status, MessageTraceId guid literal)', async () => {
    const truth = sim.groundTruth(tenantId, T0 - 6 * HOUR, T0 - 5 * HOUR);
    const row = truth.find((r) => truth.filter((x) => x.id === r.id).length > 1) ?? truth[0]!;
    const base = `StartDate eq datetime'${dt(T0 - 6 * HOUR)}' and EndDate eq datetime'${dt(T0 - 5 * HOUR)}'`;
    const byId = await report(`$filter=${encodeURIComponent(`${base} and MessageTraceId eq guid'${row.id}'`)}`);
    assert.equal(byId.json.value.length, truth.filter((x) => x.id === row.id).length);
    const byRecipient = await report(`$filter=${encodeURIComponent(`${base} and RecipientAddress eq '${row.recipientAddress.toUpperCase()}' and Status eq 'Delivered'`)}`);
    assert.equal(byRecipient.json.value.length, truth.filter((x) => x.recipientAddress === row.recipientAddress && x.status === 'delivered').length);
    const bySender = await report(`$filter=${encodeURIComponent(`${base} and SenderAddress eq '${row.senderAddress}'`)}`);
    assert.ok(bySender.json.value.every((v: { SenderAddress: string }) => v.SenderAddress === row.senderAddress));
  });

  test('no $filter covers the last 48 hours (A.3)', async () => {
    const r = await report('$top=1');
    assert.equal(r.json.value[0].StartDate, new Date(T0 - 2 * DAY).toISOString().replace('Z', '0000Z'));
    assert.equal(r.json.value[0].EndDate, new Date(T0).toISOString().replace('Z', '0000Z'));
  });

  test('a malformed $top gives the exact odata.error body of A.8', async () => {
    const r = await report('$top=1000]');
    assert.equal(r.status, 400);
    assert.equal(r.text, `{"odata.error":{"code":"","message":{"lang":"en-US","value":"Incorrect format for $top argument '1000]'."}}}`);
  });

  test('a StartDate beyond the look-back limit (default 10 days) is a 400 (A.7)', async () => {
    const r = await report(windowQuery(T0 - 11 * DAY, T0 - 10 * DAY + HOUR));
    assert.equal(r.status, 400);
    assert.match(r.json['odata.error'].message.value, /10 days/);
  });
});

describe('RWS options (A.4 UNCONFIRMED points)', () => {
  test('nextLink can be relative (resolved against the request URL) and Index per page; verbose carries d.__next', async () => {
    const { sim } = await startTestSimulator({ rws: { nextLink: 'relative', indexMode: 'perPage', maxTop: 50 } });
    try {
      const token = await getToken(sim, 'https://outlook.office365.com');
      const first = `${sim.rwsBaseUrl}/MessageTrace?$top=5000`;
      const r = await get(first, token, JSON_ACCEPT);
      assert.equal(r.json.value.length, 50, '$top above the maximum is capped');
      const link: string = r.json['odata.nextLink'];
      assert.match(link, /^\.\.\/\.\.\/ReportingWebService\/Reporting\.svc\/MessageTrace\?/);
      const next = await get(new URL(link, first).toString(), token, JSON_ACCEPT);
      assert.equal(next.status, 200);
      assert.equal(next.json.value[0].Index, 0);
      const verbose = await get(`${sim.rwsBaseUrl}/MessageTrace?$format=json`, token);
      assert.match(verbose.json.d.__next, /\$skiptoken=50/);
    } finally {
      await sim.stop();
    }
  });
});
