import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { normaliseRwsRecord } from '../../shared/api/rws/client';
import type { GoogleSecOpsDestinationConfig } from '../../shared/destinations/google-secops/config';
import { createDestination } from '../../shared/destinations';
import { makeEvent } from '../../shared/model/row';
import { componentTestdata } from '../support/testdata';
import { configOf, ctxOf, issuesOf, rejection } from './helpers';
import { manyEvents, sampleDetailEvents, sampleEvents, TENANT } from './fixtures';
import { secretsOf } from './vendor-receiver';
import { SECOPS_CUSTOMER_ID, startSecOpsReceiver, udmProblems, type SecOpsReceiver } from './google-secops-receiver';
import { toDetailUdm } from '../../shared/formats/udm/detail';

const testdata = (name: string) => componentTestdata('destinations', 'google-secops', name);
const parser = JSON.parse(readFileSync(testdata('office_365_messagetrace.json'), 'utf8')) as { log_type: string; udm: Record<string, string>; sample: Record<string, unknown> };

describe('google-secops (service account token and Ingestion API v2, against a loopback stand-in)', () => {
  let g: SecOpsReceiver;
  before(async () => { g = await startSecOpsReceiver(); });
  after(async () => { await g.close(); });
  const secrets = () => secretsOf({ SECOPS_SA: g.keyJson });
  const config = (extra: Record<string, unknown> = {}) => configOf<GoogleSecOpsDestinationConfig>({
    id: 'secops', type: 'google-secops', customerId: SECOPS_CUSTOMER_ID.toUpperCase(), url: g.url, allowInsecureLoopback: true, serviceAccountRef: 'env:SECOPS_SA', ...extra,
  });

  it('posts batchCreate with customer id, the OFFICE_365_MESSAGETRACE log type and one entry per row, under a service account token', async () => {
    g.batches.length = 0;
    const d = createDestination(config({ namespace: 'contoso', labels: { tenant: 'contoso' } }), secrets());
    const ctx = ctxOf();
    await d.send(sampleEvents(), ctx);
    assert.deepEqual(ctx.progress, [3]);
    const b = g.batches[0]!;
    assert.equal(b.customer_id, SECOPS_CUSTOMER_ID);
    assert.equal(b.log_type, 'OFFICE_365_MESSAGETRACE');
    assert.equal(b.namespace, 'contoso');
    assert.deepEqual(b.labels, [{ key: 'tenant', value: 'contoso' }]);
    assert.equal(b.entries.length, 3);
    assert.equal(b.entries[0]!.ts_rfc3339, '2026-11-18T14:37:12.123Z');
    const first = JSON.parse(b.entries[0]!.log_text) as Record<string, unknown>;
    assert.equal(first.MessageTraceId, sampleEvents()[0]!.row.id);
    assert.equal(first.Status, 'Delivered');
    const req = g.receiver.requests.find((q) => q.path === '/v2/unstructuredlogentries:batchCreate')!;
    assert.equal(req.headers['content-type'], 'application/json');
  });

  it('sends, for the parser\'s own sample row, the log text it maps to UDM', async () => {
    g.batches.length = 0;
    const row = normaliseRwsRecord(parser.sample)!;
    const event = makeEvent({ tenantId: TENANT, sourceId: 'contoso', api: 'rws', collectedAt: '2023-06-27T12:00:00.000Z', fields: {}, row, raw: parser.sample });
    await createDestination(config(), secrets()).send([event], ctxOf());
    assert.equal(g.batches[0]!.log_type, parser.log_type);
    const sent = JSON.parse(g.batches[0]!.entries[0]!.log_text) as Record<string, unknown>;
    for (const field of Object.keys(parser.udm)) assert.deepEqual(sent[field], parser.sample[field], `${field} (-> ${parser.udm[field]})`);
    assert.deepEqual({ ...sent, Received: undefined }, { ...parser.sample, Received: undefined });
    assert.equal(Date.parse(String(sent.Received)), Date.parse(`${String(parser.sample.Received)}Z`));
  });

  it('keeps every request within the byte limit and reports progress after each acknowledged batch', async () => {
    g.batches.length = 0;
    g.receiver.requests.length = 0;
    const d = createDestination(config({ maxBatchBytes: 200_000 }), secrets());
    const ctx = ctxOf();
    await d.send(manyEvents(3000), ctx);
    const posts = g.receiver.requests.filter((q) => q.path.endsWith(':batchCreate'));
    assert.ok(posts.length > 3, `${posts.length} requests`);
    for (const q of posts) assert.ok(Buffer.byteLength(q.body) <= 200_000, `${Buffer.byteLength(q.body)} bytes`);
    assert.equal(g.batches.reduce((n, b) => n + b.entries.length, 0), 3000);
    assert.equal(ctx.progress.at(-1), 3000);
    assert.equal(ctx.progress.length, posts.length);
    assert.match(issuesOf({ id: 's', type: 'google-secops', customerId: SECOPS_CUSTOMER_ID, serviceAccountRef: 'env:X', maxBatchBytes: 2_000_000 }).join('\n'), /maxBatchBytes: is 2000000; it must be a whole number from 1024 to 1000000/);
  });

  it('reuses its token, and renews it once when the API answers 401', async () => {
    const d = createDestination(config(), secrets());
    const before = g.tokenRequests;
    await d.send(sampleEvents(), ctxOf());
    await d.send(sampleEvents(), ctxOf());
    assert.equal(g.tokenRequests - before, 1, 'one token for both sends');
    g.revokeTokens();
    await d.send(sampleEvents(), ctxOf());
    assert.equal(g.tokenRequests - before, 2, 'renewed after the 401');
  });

  it('retries 429 and 503, and stops on 403 and on an unknown log type with a fix, never quoting the key', async () => {
    const d = createDestination(config(), secrets());
    g.script.push(
      { status: 429, body: { error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED' } }, headers: { 'retry-after': '3' } },
      { status: 503, body: { error: { code: 503, message: 'unavailable', status: 'UNAVAILABLE' } } },
    );
    const a = await rejection(d.send(sampleEvents(), ctxOf()));
    const b = await rejection(d.send(sampleEvents(), ctxOf()));
    assert.deepEqual([[a.code, a.retryable], [b.code, b.retryable]], [['Http429', true], ['Http503', true]]);
    const denied = await rejection(createDestination(config({ customerId: '00000000-0000-4000-8000-000000000000' }), secrets()).send(sampleEvents(), ctxOf()));
    assert.deepEqual([denied.code, denied.retryable], ['DestinationAuthFailed', false]);
    assert.match(denied.fix ?? '', /customerId/);
    const badType = await rejection(createDestination(config({ logType: 'NOT_A_LOG_TYPE' }), secrets()).send(sampleEvents(), ctxOf()));
    assert.deepEqual([badType.code, badType.retryable], ['InvalidArgument', false]);
    assert.match(badType.fix ?? '', /logType/);
    for (const e of [a, b, denied, badType]) assert.ok(!JSON.stringify(e).includes('PRIVATE KEY') && !e.message.includes(g.privateKeyPem.slice(40, 80)));
  });

  it('fails permanently, naming the fix, when the secret is not a service account key or its key is rejected', async () => {
    const notJson = await rejection(createDestination(config(), secretsOf({ SECOPS_SA: 'not json' })).send(sampleEvents(), ctxOf()));
    assert.deepEqual([notJson.code, notJson.retryable], ['ServiceAccountKeyInvalid', false]);
    const other = JSON.parse(g.keyJson) as Record<string, string>;
    const { privateKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('rsa', { modulusLength: 2048 }));
    const wrong = JSON.stringify({ ...other, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const s = secretsOf({ SECOPS_SA: wrong });
    const rejected = await rejection(createDestination(config(), s).send(sampleEvents(), ctxOf()));
    assert.deepEqual([rejected.code, rejected.retryable], ['ServiceAccountTokenRejected', false]);
    assert.deepEqual(s.invalidated, ['SECOPS_SA']);
    assert.ok(!rejected.message.includes('PRIVATE KEY'));
  });

  it('checks health with GET /v2/logtypes under the token', async () => {
    await createDestination(config(), secrets()).healthCheck!();
    assert.ok(g.receiver.requests.some((q) => q.method === 'GET' && q.path === '/v2/logtypes'));
  });

  it('maps the region to its endpoint and names the field and the fix for each mistake', () => {
    assert.equal(configOf<GoogleSecOpsDestinationConfig>({ id: 's', type: 'google-secops', customerId: SECOPS_CUSTOMER_ID, region: 'europe', serviceAccountRef: 'kv:secops-sa' }).url, 'https://europe-malachiteingestion-pa.googleapis.com');
    assert.equal(configOf<GoogleSecOpsDestinationConfig>({ id: 's', type: 'google-secops', customerId: SECOPS_CUSTOMER_ID, region: 'europe-west2', serviceAccountRef: 'kv:secops-sa' }).url, 'https://europe-west2-malachiteingestion-pa.googleapis.com');
    const c = configOf<GoogleSecOpsDestinationConfig>({ id: 's', type: 'google-secops', customerId: SECOPS_CUSTOMER_ID, serviceAccountRef: 'kv:secops-sa' });
    assert.deepEqual([c.url, c.logType, c.format, c.maxBatchBytes], ['https://malachiteingestion-pa.googleapis.com', 'OFFICE_365_MESSAGETRACE', 'o365-messagetrace', 1_000_000]);
    const lines = issuesOf({ id: 's', type: 'google-secops', customerId: 'contoso', region: 'eu', privateKey: '-----BEGIN PRIVATE KEY-----' }).join('\n');
    assert.match(lines, /customerId: must be the Google SecOps customer id, a UUID/);
    assert.match(lines, /region: must be the region of your Google SecOps instance: "us", "europe"/);
    assert.match(lines, /privateKey: secrets are never inline in the configuration; remove "privateKey" and set "serviceAccountRef"/);
    assert.ok(!lines.includes('BEGIN PRIVATE KEY'), 'the inline secret is not echoed');
  });

  it('maps every detail event to a UDM event of the schema\'s fields and enums (EMAIL_UNCATEGORIZED, the verdict in security_result)', () => {
    const udm = sampleDetailEvents().map((e) => toDetailUdm(e));
    for (const u of udm) assert.deepEqual(udmProblems(u), [], JSON.stringify(u).slice(0, 200));
    const verdicts = udm.map((u) => [(u.metadata as Record<string, unknown>).product_event_type, (u.security_result as Record<string, unknown>[])[0]!.action, (u.security_result as Record<string, unknown>[])[0]!.category]);
    assert.deepEqual(verdicts.filter(([, action]) => action !== undefined), [
      ['Fail', ['FAIL'], undefined],
      ['Fail', ['FAIL'], undefined],
      ['Transport rule', ['QUARANTINE'], undefined],
      ['Spam', ['ALLOW_WITH_MODIFICATION'], ['MAIL_SPAM']],
      ['Spam', ['QUARANTINE'], ['MAIL_PHISHING']],
    ]);
    assert.ok(udm.every((u) => (u.metadata as Record<string, unknown>).event_type === 'EMAIL_UNCATEGORIZED'));
  });

  it('refuses, as SecOps does, a UDM event with an unknown field, a wrong type or an unknown enum value (so the check can fail)', () => {
    const [u] = sampleDetailEvents().map((e) => toDetailUdm(e));
    assert.match(udmProblems({ ...u, metadata: { ...(u!.metadata as object), event_type: 'EMAIL_BOUNCE' } }).join(), /invalid value "EMAIL_BOUNCE" for enum event_type/);
    assert.match(udmProblems({ ...u, network: { email: { to: 'x@y.z' } } }).join(), /network\.email\.to: must be a list/);
    assert.match(udmProblems({ ...u, principal: { user: { mail: ['x@y.z'] } } }).join(), /Unknown name "mail"/);
    assert.match(udmProblems({ ...u, metadata: { ...(u!.metadata as object), event_timestamp: 'yesterday' } }).join(), /not an RFC 3339 timestamp/);
  });
});
