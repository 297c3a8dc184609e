import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDestination } from '../../shared/destinations';
import type { SplunkHecDestinationConfig } from '../../shared/destinations/splunk-hec/config';
import type { ElasticDestinationConfig } from '../../shared/destinations/elastic/config';
import type { SumoLogicDestinationConfig } from '../../shared/destinations/sumo-logic/config';
import type { DatadogDestinationConfig } from '../../shared/destinations/datadog/config';
import type { CriblDestinationConfig } from '../../shared/destinations/cribl/config';
import { configOf, ctxOf, issuesOf, rejection } from './helpers';
import { manyEvents, sampleEvents, TENANT } from './fixtures';
import { secretsOf, startVendorReceiver, type VendorReceiver } from './vendor-receiver';

const receivers: VendorReceiver[] = [];
after(async () => { for (const r of receivers) await r.close(); });
async function receiver(handler: Parameters<typeof startVendorReceiver>[0]) {
  const r = await startVendorReceiver(handler);
  receivers.push(r);
  return r;
}
const ndjson = (body: string) => body.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('splunk-hec', () => {
  const secrets = secretsOf({ 'HEC_TOKEN': '11111111-2222-3333-4444-555555555555' });
  it('sends the HEC JSON envelope with time, host, source, sourcetype and index, gzipped, with the Splunk token header', async () => {
    const r = await receiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
    const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN', index: 'o365' }), secrets);
    const ctx = ctxOf();
    await d.send(sampleEvents(), ctx);
    assert.equal(r.requests.length, 1);
    const req = r.requests[0]!;
    assert.equal(req.path, '/services/collector/event');
    assert.equal(req.headers.authorization, 'Splunk 11111111-2222-3333-4444-555555555555');
    assert.equal(req.gzipped, true);
    assert.ok(req.headers['x-splunk-request-channel']);
    const lines = ndjson(req.body);
    assert.equal(lines.length, 3);
    assert.deepEqual(Object.keys(lines[0]!).sort(), ['event', 'host', 'index', 'source', 'sourcetype', 'time']);
    assert.equal(lines[0]!.time, Date.parse('2026-11-18T14:37:12.123Z') / 1000);
    assert.equal(lines[0]!.host, TENANT);
    assert.equal(lines[0]!.source, 'mtc:contoso');
    assert.equal(lines[0]!.sourcetype, 'ms:o365:reporting:messagetrace');
    assert.equal((lines[0]!.event as { MessageTraceId: string }).MessageTraceId, sampleEvents()[0]!.row.id);
    assert.deepEqual(ctx.progress, [3]);
  });

  it('splits batches by records and reports progress after each acknowledged batch', async () => {
    const r = await receiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
    const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN', maxBatchRecords: 4 }), secrets);
    const ctx = ctxOf();
    await d.send(manyEvents(10), ctx);
    assert.deepEqual(r.requests.map((q) => ndjson(q.body).length), [4, 4, 2]);
    assert.deepEqual(ctx.progress, [4, 8, 10]);
  });

  it('counts the events before an invalid one (code 6) as delivered and fails permanently', async () => {
    const r = await receiver(() => ({ status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': 2 } }));
    const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN' }), secrets);
    const ctx = ctxOf();
    const e = await rejection(d.send(sampleEvents(), ctx));
    assert.equal(e.code, 'Hec6');
    assert.equal(e.retryable, false);
    assert.deepEqual(ctx.progress, [2]);
  });

  it('retries "server is busy" (code 9) and stops on an invalid token (code 4) with a fix', async () => {
    const busy = await receiver(() => ({ status: 503, body: { text: 'Server is busy', code: 9 }, headers: { 'retry-after': '7' } }));
    const d1 = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: busy.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN' }), secrets);
    const e1 = await rejection(d1.send(sampleEvents(), ctxOf()));
    assert.equal(e1.code, 'Hec9');
    assert.equal(e1.retryable, true);
    const bad = await receiver(() => ({ status: 403, body: { text: 'Invalid token', code: 4 } }));
    const d2 = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: bad.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN' }), secrets);
    const e2 = await rejection(d2.send(sampleEvents(), ctxOf()));
    assert.equal(e2.code, 'Hec4');
    assert.equal(e2.retryable, false);
    assert.match(e2.fix ?? '', /tokenRef/);
    assert.ok(!e2.message.includes('11111111'), 'the token never appears in an error');
  });

  it('checks health with GET /services/collector/health', async () => {
    const r = await receiver((q) => (q.path === '/services/collector/health' ? { status: 200, body: { text: 'HEC is healthy', code: 17 } } : { status: 404 }));
    const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN' }), secrets);
    await d.healthCheck!();
    assert.equal(r.requests[0]!.method, 'GET');
  });
});

describe('elastic', () => {
  const secrets = secretsOf({ 'ES_KEY': 'aWQ6a2V5' });
  const bulkOk = (q: { body: string }, statusFor: (i: number) => number, error?: { type: string; reason: string }) => {
    const actions = ndjson(q.body).filter((_, i) => i % 2 === 0);
    return { status: 200, body: { took: 1, errors: actions.some((_, i) => statusFor(i) >= 300), items: actions.map((a, i) => ({ create: { _index: (a.create as { _index: string })._index, _id: (a.create as { _id: string })._id, status: statusFor(i), ...(statusFor(i) >= 300 && statusFor(i) !== 409 ? { error } : {}) } })) } };
  };

  it('writes create actions with _id = eventId and an ApiKey header, in ECS when asked', async () => {
    const r = await receiver((q) => bulkOk(q, () => 201));
    const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY', index: 'logs-o365.messagetrace-default', format: 'ecs' }), secrets);
    const ctx = ctxOf();
    await d.send(sampleEvents(), ctx);
    const req = r.requests[0]!;
    assert.equal(req.path, '/_bulk');
    assert.equal(req.headers.authorization, 'ApiKey aWQ6a2V5');
    assert.equal(req.headers['content-type'], 'application/x-ndjson');
    assert.ok(req.body.endsWith('\n'), 'a bulk body ends with a newline');
    const lines = ndjson(req.body);
    assert.equal(lines.length, 6);
    assert.deepEqual(lines[0], { create: { _index: 'logs-o365.messagetrace-default', _id: sampleEvents()[0]!.eventId } });
    assert.ok((lines[1] as Record<string, unknown>)['@timestamp']);
    assert.deepEqual(ctx.progress, [3]);
  });

  it('treats a 409 on an existing _id as delivered, so a repeat is idempotent', async () => {
    const r = await receiver((q) => bulkOk(q, () => 409));
    const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY' }), secrets);
    const ctx = ctxOf();
    await d.send(sampleEvents(), ctx);
    assert.deepEqual(ctx.progress, [3]);
  });

  it('reports progress up to the first item rejected with 429, fails retryably, and the retry completes', async () => {
    let call = 0;
    const r = await receiver((q) => (call++ === 0 ? bulkOk(q, (i) => (i === 1 ? 429 : 201), { type: 'es_rejected_execution_exception', reason: 'queue full' }) : bulkOk(q, (i) => (i === 0 ? 201 : 409))));
    const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY' }), secrets);
    const events = sampleEvents();
    const ctx = ctxOf();
    const e = await rejection(d.send(events, ctx));
    assert.equal(e.code, 'BulkItemRetryable');
    assert.equal(e.retryable, true);
    assert.deepEqual(ctx.progress, [1]);
    const retry = ctxOf();
    await d.send(events.slice(1), retry);
    assert.deepEqual(retry.progress, [2]);
  });

  it('fails permanently on a mapping error and quotes its type and reason', async () => {
    const r = await receiver((q) => bulkOk(q, (i) => (i === 2 ? 400 : 201), { type: 'mapper_parsing_exception', reason: 'failed to parse field [email.subject]' }));
    const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY' }), secrets);
    const ctx = ctxOf();
    const e = await rejection(d.send(sampleEvents(), ctx));
    assert.equal(e.code, 'BulkItemRejected');
    assert.equal(e.retryable, false);
    assert.match(e.message, /mapper_parsing_exception: failed to parse field/);
    assert.deepEqual(ctx.progress, [2]);
  });

  it('fails permanently on 413 with the fix to lower maxBatchBytes', async () => {
    const r = await receiver(() => ({ status: 413, body: '' }));
    const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY' }), secrets);
    const e = await rejection(d.send(sampleEvents(), ctxOf()));
    assert.equal(e.code, 'PayloadTooLarge');
    assert.equal(e.retryable, false);
    assert.match(e.fix ?? '', /maxBatchBytes/);
  });
});

describe('sumo-logic', () => {
  it('posts gzipped NDJSON with the X-Sumo-Category, X-Sumo-Name, X-Sumo-Host and X-Sumo-Fields headers', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const secrets = secretsOf({ 'SUMO_URL': `${r.url}/receiver/v1/http/ZaVnC4dhaV3-secret` });
    const d = createDestination(configOf<SumoLogicDestinationConfig>({ id: 'sumo', type: 'sumo-logic', urlRef: 'env:SUMO_URL', allowInsecureLoopback: true, category: 'o365/messagetrace', name: 'message-trace', host: 'contoso', fields: { customer: 'contoso', env: 'prod' } }), secrets);
    const ctx = ctxOf();
    await d.send(sampleEvents(), ctx);
    const req = r.requests[0]!;
    assert.equal(req.path, '/receiver/v1/http/ZaVnC4dhaV3-secret');
    assert.equal(req.gzipped, true);
    assert.equal(req.headers['x-sumo-category'], 'o365/messagetrace');
    assert.equal(req.headers['x-sumo-name'], 'message-trace');
    assert.equal(req.headers['x-sumo-host'], 'contoso');
    assert.equal(req.headers['x-sumo-fields'], 'customer=contoso,env=prod');
    assert.equal(ndjson(req.body).length, 3);
    assert.deepEqual(ctx.progress, [3]);
  });

  it('retries a 429, fails permanently on 413 and 404, and never puts the source URL in an error', async () => {
    const statuses = [429, 413, 404];
    const r = await receiver((_q, i) => ({ status: statuses[i]!, body: 'nope' }));
    const secrets = secretsOf({ 'SUMO_URL': `${r.url}/receiver/v1/http/ZaVnC4dhaV3-secret` });
    const d = createDestination(configOf<SumoLogicDestinationConfig>({ id: 'sumo', type: 'sumo-logic', urlRef: 'env:SUMO_URL', allowInsecureLoopback: true }), secrets);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await rejection(d.send(sampleEvents(), ctxOf())));
    assert.deepEqual(got.map((e) => [e.code, e.retryable]), [['Http429', true], ['PayloadTooLarge', false], ['SourceNotFound', false]]);
    for (const e of got) assert.ok(!e.message.includes('ZaVnC4dhaV3') && !(e.fix ?? '').includes('ZaVnC4dhaV3'));
  });

  it('refuses a secret that holds a plain-http address that is not loopback, without quoting it', async () => {
    const secrets = secretsOf({ 'SUMO_URL': 'http://collectors.sumologic.com/receiver/v1/http/ZaVnC4dhaV3-secret' });
    const d = createDestination(configOf<SumoLogicDestinationConfig>({ id: 'sumo', type: 'sumo-logic', urlRef: 'env:SUMO_URL' }), secrets);
    const e = await rejection(d.healthCheck!());
    assert.equal(e.code, 'InvalidSourceUrl');
    assert.ok(!e.message.includes('ZaVnC4dhaV3'));
  });
});

describe('datadog', () => {
  const secrets = secretsOf({ 'DD_KEY': 'abcdef0123456789abcdef0123456789' });
  it('posts a JSON array of entries with ddsource, ddtags, hostname, service and message, and the DD-API-KEY header', async () => {
    const r = await receiver(() => ({ status: 202, body: {} }));
    const d = createDestination(configOf<DatadogDestinationConfig>({ id: 'dd', type: 'datadog', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:DD_KEY', ddtags: ['env:prod'] }), secrets);
    await d.send(sampleEvents(), ctxOf());
    const req = r.requests[0]!;
    assert.equal(req.path, '/api/v2/logs');
    assert.equal(req.headers['dd-api-key'], 'abcdef0123456789abcdef0123456789');
    const body = JSON.parse(req.body) as Record<string, string>[];
    assert.equal(body.length, 3);
    assert.deepEqual(Object.keys(body[0]!).sort(), ['ddsource', 'ddtags', 'hostname', 'message', 'service']);
    assert.equal(body[0]!.ddsource, 'microsoft-365');
    assert.equal(body[0]!.service, 'exchange-online');
    assert.equal(body[0]!.ddtags, `env:prod,tenant_id:${TENANT},mtc_source:contoso,mtc_kind:trace`);
    assert.equal((JSON.parse(body[0]!.message!) as { eventId: string }).eventId, sampleEvents()[0]!.eventId);
  });

  it('keeps to 1000 entries per request and maps the site to its intake', async () => {
    const r = await receiver(() => ({ status: 202, body: {} }));
    const d = createDestination(configOf<DatadogDestinationConfig>({ id: 'dd', type: 'datadog', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:DD_KEY' }), secrets);
    const ctx = ctxOf();
    await d.send(manyEvents(2100), ctx);
    assert.deepEqual(r.requests.map((q) => (JSON.parse(q.body) as unknown[]).length), [1000, 1000, 100]);
    assert.deepEqual(ctx.progress, [1000, 2000, 2100]);
    assert.equal(configOf<DatadogDestinationConfig>({ id: 'dd', type: 'datadog', site: 'datadoghq.eu', apiKeyRef: 'env:DD_KEY' }).url, 'https://http-intake.logs.datadoghq.eu/api/v2/logs');
    assert.match(issuesOf({ id: 'dd', type: 'datadog', apiKeyRef: 'env:DD_KEY', maxBatchRecords: 5000 }).join('\n'), /maxBatchRecords: is 5000; it must be a whole number from 1 to 1000/);
  });

  it('classifies 413 as permanent and 429 as retryable, and invalidates the key on 403', async () => {
    const statuses = [413, 429, 403];
    const r = await receiver((_q, i) => ({ status: statuses[i]!, body: { errors: ['x'] } }));
    const d = createDestination(configOf<DatadogDestinationConfig>({ id: 'dd', type: 'datadog', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:DD_KEY' }), secrets);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await rejection(d.send(sampleEvents(), ctxOf())));
    assert.deepEqual(got.map((e) => [e.code, e.retryable]), [['PayloadTooLarge', false], ['Http429', true], ['DestinationAuthFailed', false]]);
    assert.deepEqual(secrets.invalidated, ['DD_KEY']);
  });
});

describe('cribl', () => {
  it('posts Cribl HTTP event API records (_time, _raw, host, source, sourcetype) to /cribl/_bulk with the auth token', async () => {
    const r = await receiver(() => ({ status: 200, body: {} }));
    const secrets = secretsOf({ 'CRIBL_TOKEN': 'cribl-shared-secret' });
    const d = createDestination(configOf<CriblDestinationConfig>({ id: 'cribl', type: 'cribl', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:CRIBL_TOKEN' }), secrets);
    await d.send(sampleEvents(), ctxOf());
    const req = r.requests[0]!;
    assert.equal(req.path, '/cribl/_bulk');
    assert.equal(req.headers.authorization, 'cribl-shared-secret');
    const lines = ndjson(req.body);
    assert.equal(lines.length, 3);
    assert.equal(lines[0]!._time, Date.parse('2026-11-18T14:37:12.123Z') / 1000);
    assert.equal((JSON.parse(lines[0]!._raw as string) as { eventId: string }).eventId, sampleEvents()[0]!.eventId);
    assert.equal(lines[0]!.host, TENANT);
  });

  it('fails permanently on 401 and retryably on 503', async () => {
    const statuses = [401, 503];
    const r = await receiver((_q, i) => ({ status: statuses[i]! }));
    const d = createDestination(configOf<CriblDestinationConfig>({ id: 'cribl', type: 'cribl', url: r.url, allowInsecureLoopback: true }), secretsOf({}));
    const a = await rejection(d.send(sampleEvents(), ctxOf()));
    const b = await rejection(d.send(sampleEvents(), ctxOf()));
    assert.deepEqual([[a.code, a.retryable], [b.code, b.retryable]], [['DestinationAuthFailed', false], ['Http503', true]]);
  });
});

describe('destination configuration', () => {
  it('names the field and the fix for each mistake', () => {
    const lines = [
      ...issuesOf({ id: 'splunk', type: 'splunk-hec', url: 'https://splunk.example.com:8088', token: 'abc' }),
      ...issuesOf({ id: 'es', type: 'elastic', url: 'http://es.example.com:9200', apiKeyRef: 'env:ES_KEY' }),
      ...issuesOf({ id: 'sentinel', type: 'azure-monitor', endpoint: 'https://x.ingest.monitor.azure.com', ruleId: '/subscriptions/x/dataCollectionRules/y' }),
      ...issuesOf({ id: 'archive', type: 'azure-blob', container: 'Bad_Name' }),
      ...issuesOf({ id: 'dd', type: 'datadog', site: 'datadog.com', apiKeyRef: 'env:DD' }),
      ...issuesOf({ id: 'siem', type: 'http', url: 'https://siem.example.com', format: 'cef', privacy: { drop: ['body'] }, acceptedDomains: ['@contoso.com'] }),
      ...issuesOf({ id: 'x', type: 'kafka' }),
    ].join('\n');
    assert.match(lines, /destinations\[0\]\.token: secrets are never inline in the configuration; remove "token" and set "tokenRef"/);
    assert.match(lines, /destinations\[0\]\.tokenRef: is required; it must be a secret reference such as "kv:splunk-hec-token"/);
    assert.match(lines, /destinations\[0\]\.url: must use https/);
    assert.match(lines, /destinations\[0\]\.ruleId: must be the immutable id of the DCR \(not its resource id\)/);
    assert.match(lines, /destinations\[0\]: needs "accountUrl" .* or "connectionStringRef"/);
    assert.match(lines, /destinations\[0\]\.container: must be a container name of 3-63 lowercase letters/);
    assert.match(lines, /destinations\[0\]\.site: must be your Datadog site: "datadoghq\.com"/);
    assert.match(lines, /destinations\[0\]\.format: must be one of "raw", "ecs", "ocsf", "sentinel", "o365-messagetrace"/);
    assert.match(lines, /destinations\[0\]\.privacy\.drop\[0\]: must name fields to drop: "subject"/);
    assert.match(lines, /destinations\[0\]\.acceptedDomains\[0\]: must be a list of the tenant's accepted domains/);
    assert.match(lines, /destinations\[0\]\.type: must be one of "http", "file", "splunk-hec", "sumo-logic", "elastic", "cribl", "datadog", "azure-monitor", "azure-blob"/);
  });

  it('fills the documented defaults', () => {
    const c = configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: 'https://es.example.com:9200', apiKeyRef: 'kv:elastic-api-key' });
    assert.equal(c.format, 'o365-messagetrace');
    assert.equal(c.index, 'logs-microsoft_exchange_online_message_trace.log-default');
    assert.equal(c.gzip, true);
    assert.equal(c.maxBatchBytes, 5_000_000);
    assert.deepEqual(c.privacy, { drop: [], hash: [] });
    assert.equal(configOf<SplunkHecDestinationConfig>({ id: 's', type: 'splunk-hec', url: 'https://splunk.example.com:8088', tokenRef: 'kv:t' }).url, 'https://splunk.example.com:8088/services/collector/event');
  });
});
