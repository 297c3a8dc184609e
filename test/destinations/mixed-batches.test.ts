/**
 * Every destination gets batches that mix trace rows and detail events (the pipeline forwards a
 * row's getDetailsByRecipient events beside rows): each sends every event, in order, each kind to
 * where it belongs (Splunk sourcetype, Elastic index, Logs Ingestion stream, Sumo category, Datadog
 * tag, Cribl sourcetype, SecOps endpoint), and reports progress in the batch's order, so a retry
 * resumes at the right event. Against the loopback receivers of the other destination tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient } from '@azure/storage-blob';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { createDestination } from '../../shared/destinations';
import type { AzureBlobDestinationConfig } from '../../shared/destinations/azure-blob/config';
import { AzureBlobDestination } from '../../shared/destinations/azure-blob/destination';
import { replayArchive } from '../../shared/destinations/azure-blob/replay';
import type { AzureMonitorDestinationConfig } from '../../shared/destinations/azure-monitor/config';
import { AzureMonitorDestination, detailStreamName } from '../../shared/destinations/azure-monitor/destination';
import type { CriblDestinationConfig } from '../../shared/destinations/cribl/config';
import type { DatadogDestinationConfig } from '../../shared/destinations/datadog/config';
import type { ElasticDestinationConfig } from '../../shared/destinations/elastic/config';
import { detailTarget } from '../../shared/destinations/elastic/destination';
import type { FileDestinationConfig } from '../../shared/destinations/file/config';
import type { GoogleSecOpsDestinationConfig } from '../../shared/destinations/google-secops/config';
import type { HttpDestinationConfig } from '../../shared/destinations/http/config';
import type { SplunkHecDestinationConfig } from '../../shared/destinations/splunk-hec/config';
import type { SumoLogicDestinationConfig } from '../../shared/destinations/sumo-logic/config';
import { createFormatter, SENTINEL_COLUMNS, SENTINEL_DETAIL_COLUMNS } from '../../shared/formats';
import { isDetailEvent, receivedMs, type TraceEvent } from '../../shared/model/row';
import { createSelfSignedCertificate } from '../../simulator/tls';
import { testStorage, uniqueName } from '../support/azurite';
import { configOf, ctxOf, rejection } from './helpers';
import { ACCEPTED, mixedEvents } from './fixtures';
import { SECOPS_CUSTOMER_ID, startSecOpsReceiver, type SecOpsReceiver } from './google-secops-receiver';
import { secretsOf, startVendorReceiver, type Recorded, type VendorReceiver } from './vendor-receiver';

const receivers: VendorReceiver[] = [];
after(async () => { for (const r of receivers) await r.close(); });
async function receiver(handler: Parameters<typeof startVendorReceiver>[0]) {
  const r = await startVendorReceiver(handler);
  receivers.push(r);
  return r;
}
const ndjson = (body: string) => body.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
const kinds = (events: TraceEvent[]) => events.map((e) => (isDetailEvent(e) ? 'D' : 'T')).join('');
/** When an event happened, in seconds: a detail's own dateTime, a row's received time. */
const seconds = (e: TraceEvent) => receivedMs(isDetailEvent(e) ? e.detail.dateTime : e.row.receivedDateTime) / 1000;

describe('mixed batches of trace rows and detail events', () => {
  const events = mixedEvents();
  it('are what the pipeline sends: rows with the detail events of one row between them', () => {
    assert.equal(kinds(events), 'TTDDDT');
    assert.ok(events.slice(2, 5).every((e) => e.traceEventId === events[1]!.eventId), 'the details explain the failed row before them');
  });

  describe('splunk-hec', () => {
    const secrets = secretsOf({ HEC: 't' });
    it('gives each event its sourcetype (details ":detail") and time, in order, and reports progress per batch across the kinds', async () => {
      const r = await receiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
      const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC', maxBatchRecords: 4 }), secrets);
      const ctx = ctxOf();
      await d.send(events, ctx);
      const lines = r.requests.flatMap((q) => ndjson(q.body));
      assert.deepEqual(r.requests.map((q) => ndjson(q.body).length), [4, 2]);
      assert.deepEqual(ctx.progress, [4, 6]);
      assert.deepEqual(lines.map((l) => l.sourcetype), ['ms:o365:reporting:messagetrace', 'ms:o365:reporting:messagetrace', ...Array(3).fill('ms:o365:reporting:messagetrace:detail'), 'ms:o365:reporting:messagetrace']);
      assert.deepEqual(lines.map((l) => l.time), events.map(seconds));
      const detail = lines[4]!.event as Record<string, unknown>;
      assert.deepEqual(Object.keys(detail).sort(), ['Data', 'Date', 'Detail', 'Event', 'MessageId', 'MessageTraceId', 'RecipientAddress', 'SenderAddress']);
      assert.equal(detail.Event, 'Fail');
      assert.equal((lines[0]!.event as Record<string, unknown>).Status, 'Delivered');
    });

    it('uses the configured sourcetype as the base of the detail sourcetype', async () => {
      const r = await receiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
      await createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC', sourcetype: 'o365:trace' }), secrets).send(events, ctxOf());
      assert.deepEqual([...new Set(ndjson(r.requests[0]!.body).map((l) => l.sourcetype))], ['o365:trace', 'o365:trace:detail']);
    });
  });

  describe('elastic', () => {
    const secrets = secretsOf({ ES_KEY: 'aWQ6a2V5' });
    /**
     * A _bulk endpoint with data stream rules: a `logs-*-*` data stream needs @timestamp, a repeated
     * _id in an index is a 409, and `fail` can reject one item (index within the request).
     */
    function bulk(fail?: (i: number, q: Recorded) => number | undefined) {
      const ids = new Map<string, Set<string>>();
      return (q: Recorded) => {
        const lines = ndjson(q.body);
        const items = [];
        for (let i = 0; i < lines.length; i += 2) {
          const { _index, _id } = (lines[i]!.create as { _index: string; _id: string });
          const doc = lines[i + 1]!;
          const seen = ids.get(_index) ?? new Set<string>();
          ids.set(_index, seen);
          const forced = fail?.(i / 2, q);
          if (forced) items.push({ create: { _index, _id, status: forced, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } });
          else if (_index.startsWith('logs-') && typeof doc['@timestamp'] !== 'string') items.push({ create: { _index, _id, status: 400, error: { type: 'document_parsing_exception', reason: 'data stream timestamp field [@timestamp] is missing' } } });
          else if (seen.has(_id)) items.push({ create: { _index, _id, status: 409, error: { type: 'version_conflict_engine_exception', reason: 'document already exists' } } });
          else {
            seen.add(_id);
            items.push({ create: { _index, _id, status: 201 } });
          }
        }
        return { status: 200, body: { took: 1, errors: items.some((it) => it.create.status >= 300), items } };
      };
    }
    const actions = (r: VendorReceiver) => r.requests.flatMap((q) => ndjson(q.body).filter((_, i) => i % 2 === 0).map((a) => a.create as { _index: string; _id: string }));
    const docs = (r: VendorReceiver) => r.requests.flatMap((q) => ndjson(q.body).filter((_, i) => i % 2 === 1));

    it('by default keeps details out of the integration\'s data stream: ECS documents in logs-mtc.message_trace_detail-<namespace>, _id = eventId, in order', async () => {
      const r = await receiver(bulk());
      const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY', acceptedDomains: ACCEPTED }), secrets);
      const ctx = ctxOf();
      await d.send(events, ctx);
      assert.deepEqual(actions(r).map((a) => a._index), [
        'logs-microsoft_exchange_online_message_trace.log-default', 'logs-microsoft_exchange_online_message_trace.log-default',
        ...Array(3).fill('logs-mtc.message_trace_detail-default'), 'logs-microsoft_exchange_online_message_trace.log-default',
      ]);
      assert.deepEqual(actions(r).map((a) => a._id), events.map((e) => e.eventId));
      assert.deepEqual(ctx.progress, [2, 5, 6], 'one request per run of one target, progress after each');
      const [row, , detail] = docs(r);
      assert.deepEqual(Object.keys(row!).sort(), ['@timestamp', '_conf', 'message'], 'rows: the document the integration\'s pipeline reads');
      assert.equal((detail!.event as Record<string, unknown>).dataset, 'mtc.message_trace_detail');
      assert.equal(detail!['@timestamp'], new Date(seconds(events[2]!) * 1000).toISOString());
    });

    it('is idempotent for details too: the same batch again is all 409s, counted as delivered', async () => {
      const r = await receiver(bulk());
      const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY' }), secrets);
      await d.send(events, ctxOf());
      const again = ctxOf();
      await d.send(events, again);
      assert.deepEqual(again.progress, [2, 5, 6]);
    });

    it('resumes at the first rejected detail: progress up to it, a retryable error, and the retry from there completes', async () => {
      let rejected = false;
      const r = await receiver(bulk((i, q) => {
        if (rejected || i !== 1 || !q.body.includes('mtc.message_trace_detail')) return undefined;
        rejected = true;
        return 429;
      }));
      const d = createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY' }), secrets);
      const ctx = ctxOf();
      const e = await rejection(d.send(events, ctx));
      assert.equal(e.retryable, true);
      assert.deepEqual(ctx.progress, [2, 3], 'the rows and the first detail');
      const retry = ctxOf();
      await d.send(events.slice(3), retry);
      assert.deepEqual(retry.progress, [2, 3]);
      assert.deepEqual(new Set(actions(r).map((a) => a._id)), new Set(events.map((x) => x.eventId)));
    });

    it('sends details without the configured pipeline (written for the rows) when they have their own data stream', async () => {
      const r = await receiver(bulk());
      await createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY', pipeline: 'mtc-trace' }), secrets).send(events, ctxOf());
      assert.deepEqual(r.requests.map((q) => q.query.get('pipeline')), ['mtc-trace', null, 'mtc-trace']);
    });

    it('with a format of your own and your own index, sends details where the rows go, in that format', async () => {
      const r = await receiver(bulk());
      await createDestination(configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY', index: 'logs-o365.messagetrace-default', format: 'ecs' }), secrets).send(events, ctxOf());
      assert.equal(r.requests.length, 1);
      assert.deepEqual([...new Set(actions(r).map((a) => a._index))], ['logs-o365.messagetrace-default']);
      assert.deepEqual(docs(r).map((x) => (x.event as Record<string, unknown>).dataset), ['microsoft_exchange_online_message_trace.log', 'microsoft_exchange_online_message_trace.log', ...Array(3).fill('mtc.message_trace_detail'), 'microsoft_exchange_online_message_trace.log']);
      assert.deepEqual(detailTarget({ index: 'mtc-trace', format: 'o365-messagetrace' }), { index: 'mtc-trace-detail', separate: true }, 'an index that is not a data stream gets a sibling');
    });
  });

  describe('azure-monitor (real @azure/monitor-ingestion SDK)', () => {
    let r: VendorReceiver;
    let original: string[] = [];
    const credential: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: 'fake-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    before(async () => {
      const cert = await createSelfSignedCertificate();
      original = tls.getCACertificates('default');
      tls.setDefaultCACertificates([...original, cert.certPem]);
      r = await startVendorReceiver(() => ({ status: 204 }), cert);
    });
    after(async () => {
      await r.close();
      tls.setDefaultCACertificates(original);
    });
    const config = () => configOf<AzureMonitorDestinationConfig>({ id: 'sentinel', type: 'azure-monitor', endpoint: r.url, ruleId: 'dcr-0123456789abcdef0123456789abcdef', acceptedDomains: ACCEPTED });

    it('uploads rows to the trace stream and details to the detail stream, run after run in order, each with its own columns', async () => {
      r.requests.length = 0;
      r.handler = () => ({ status: 204 });
      const ctx = ctxOf();
      await new AzureMonitorDestination(config(), secretsOf({}), { credential }).send(events, ctx);
      assert.equal(detailStreamName('Custom-MessageTrace_CL'), 'Custom-MessageTraceDetail_CL');
      assert.deepEqual(r.requests.map((q) => q.path.split('/').pop()), ['Custom-MessageTrace_CL', 'Custom-MessageTraceDetail_CL', 'Custom-MessageTrace_CL']);
      assert.deepEqual(ctx.progress, [2, 5, 6]);
      const [rows, details] = r.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>[]);
      const trace = new Set(SENTINEL_COLUMNS.map((c) => c.name));
      const detail = new Set(SENTINEL_DETAIL_COLUMNS.map((c) => c.name));
      for (const row of rows!) for (const k of Object.keys(row)) assert.ok(trace.has(k), k);
      for (const row of details!) for (const k of Object.keys(row)) assert.ok(detail.has(k), k);
      assert.deepEqual(details!.map((x) => x.TraceEventId), Array(3).fill(events[1]!.eventId));
      assert.deepEqual(details!.map((x) => x.DetailEvent), ['Receive', 'Send external', 'Fail']);
    });

    it('stops on a detail stream the DCR lacks with a fix that names it, after delivering the rows before', async () => {
      r.requests.length = 0;
      r.handler = (q) => (q.path.endsWith('Custom-MessageTraceDetail_CL') ? { status: 404, body: { error: { code: 'NotFound', message: 'Stream not found' } } } : { status: 204 });
      const ctx = ctxOf();
      const e = await rejection(new AzureMonitorDestination(config(), secretsOf({}), { credential }).send(events, ctx));
      assert.equal(e.retryable, false);
      assert.match(e.message, /stream "Custom-MessageTraceDetail_CL"/);
      assert.match(e.fix ?? '', /Custom-MessageTraceDetail_CL.*logs-ingestion\.bicep/);
      assert.deepEqual(ctx.progress, [2]);
    });
  });

  describe('sumo-logic, datadog, cribl, http', () => {
    it('sumo-logic: details in requests of their own with the category "<category>/detail"', async () => {
      const r = await receiver(() => ({ status: 200 }));
      const ctx = ctxOf();
      await createDestination(configOf<SumoLogicDestinationConfig>({ id: 'sumo', type: 'sumo-logic', urlRef: 'env:SUMO_URL', allowInsecureLoopback: true, category: 'o365/messagetrace' }), secretsOf({ SUMO_URL: `${r.url}/receiver/v1/http/abc` })).send(events, ctx);
      assert.deepEqual(r.requests.map((q) => q.headers['x-sumo-category']), ['o365/messagetrace', 'o365/messagetrace/detail', 'o365/messagetrace']);
      assert.deepEqual(r.requests.map((q) => ndjson(q.body).length), [2, 3, 1]);
      assert.deepEqual(ctx.progress, [2, 5, 6]);
      assert.deepEqual(r.requests.flatMap((q) => ndjson(q.body)).map((l) => l.eventId), events.map((e) => e.eventId), 'raw records, in order');
    });

    it('datadog: every entry tagged with its kind, in order, one request', async () => {
      const r = await receiver(() => ({ status: 202, body: {} }));
      const ctx = ctxOf();
      await createDestination(configOf<DatadogDestinationConfig>({ id: 'dd', type: 'datadog', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:DD' }), secretsOf({ DD: 'k' })).send(events, ctx);
      const entries = JSON.parse(r.requests[0]!.body) as { ddtags: string; message: string }[];
      assert.deepEqual(entries.map((x) => /mtc_kind:(\w+)/.exec(x.ddtags)![1]), ['trace', 'trace', 'detail', 'detail', 'detail', 'trace']);
      assert.deepEqual(entries.map((x) => (JSON.parse(x.message) as { eventId: string }).eventId), events.map((e) => e.eventId));
      assert.deepEqual(ctx.progress, [6]);
    });

    it('cribl: the sourcetype of each record says its kind, _time is the detail\'s own', async () => {
      const r = await receiver(() => ({ status: 200 }));
      await createDestination(configOf<CriblDestinationConfig>({ id: 'cribl', type: 'cribl', url: r.url, allowInsecureLoopback: true, format: 'ecs' }), secretsOf({})).send(events, ctxOf());
      const lines = ndjson(r.requests[0]!.body);
      assert.deepEqual(lines.map((l) => l.sourcetype), ['o365:messagetrace', 'o365:messagetrace', ...Array(3).fill('o365:messagetrace:detail'), 'o365:messagetrace']);
      assert.deepEqual(lines.map((l) => l._time), events.map(seconds));
      assert.deepEqual(lines.map((l) => ((JSON.parse(String(l._raw)) as { event: { dataset: string } }).event.dataset)), ['microsoft_exchange_online_message_trace.log', 'microsoft_exchange_online_message_trace.log', ...Array(3).fill('mtc.message_trace_detail'), 'microsoft_exchange_online_message_trace.log']);
    });

    it('http: NDJSON of the records in order, each saying its kind (raw: collectedBy "detail" and the detail)', async () => {
      const r = await receiver(() => ({ status: 200 }));
      const ctx = ctxOf();
      await createDestination(configOf<HttpDestinationConfig>({ id: 'siem', type: 'http', url: `${r.url}/ingest`, allowInsecureLoopback: true, maxBatchRecords: 4 }), secretsOf({})).send(events, ctx);
      const lines = r.requests.flatMap((q) => ndjson(q.body));
      assert.deepEqual(lines, JSON.parse(JSON.stringify(events)));
      assert.deepEqual(lines.map((l) => l.collectedBy ?? null), [null, null, 'detail', 'detail', 'detail', null]);
      assert.deepEqual(ctx.progress, [4, 6]);
    });
  });

  describe('file', () => {
    let dir: string;
    before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'mtc-mixed-')); });
    after(async () => { await rm(dir, { recursive: true, force: true }); });
    it('writes every record in order, details as their format maps them', async () => {
      const ctx = ctxOf();
      await createDestination(configOf<FileDestinationConfig>({ id: 'local', type: 'file', directory: dir, format: 'ocsf', acceptedDomains: ACCEPTED }), secretsOf({})).send(events, ctx);
      const day = path.join(dir, 'contoso', '2026-11-18');
      const files = readdirSync(day);
      assert.equal(files.length, 1);
      const lines = ndjson(readFileSync(path.join(day, files[0]!), 'utf8'));
      assert.deepEqual(lines, events.map(createFormatter({ format: 'ocsf', acceptedDomains: ACCEPTED, privacy: { drop: [], hash: [] } })));
      assert.deepEqual(lines.map((l) => (l.metadata as { log_name: string }).log_name), ['MessageTrace', 'MessageTrace', ...Array(3).fill('MessageTraceDetail'), 'MessageTrace']);
      assert.deepEqual(ctx.progress, [6]);
    });
  });

  describe('azure-blob archive (Azurite) and replay', () => {
    let connectionString: string;
    before(async () => { connectionString = await testStorage(); });
    const archiveConfig = (container: string, extra: Record<string, unknown> = {}) => configOf<AzureBlobDestinationConfig>({ id: 'archive', type: 'azure-blob', connectionStringRef: 'env:CS', container, prefix: 'mtc/', ...extra });

    it('archives the page\'s events and, per event, the API\'s record: a row, or the detail entry', async () => {
      const container = uniqueName('mixed');
      await createDestination(archiveConfig(container, { archiveRawPages: true }), secretsOf({ CS: connectionString })).send(events, ctxOf([], 1));
      const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
      const base = 'mtc/contoso/2026/11/18/L-001795000000000-001795003600000/p000001';
      const lines = gunzipSync(await client.getBlockBlobClient(`${base}.ndjson.gz`).downloadToBuffer()).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
      assert.deepEqual(lines, JSON.parse(JSON.stringify(events)));
      const page = JSON.parse(gunzipSync(await client.getBlockBlobClient(`${base}.page.json.gz`).downloadToBuffer()).toString('utf8')) as { value: unknown[] };
      assert.deepEqual(page.value, JSON.parse(JSON.stringify(events.map((e) => e.detail ?? e.row))));
    });

    it('replays a mixed archive to another destination exactly as direct delivery', async () => {
      const container = uniqueName('mixrep');
      const secrets = secretsOf({ CS: connectionString });
      const direct = await receiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
      const replayed = await receiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
      const hec = (url: string) => configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url, allowInsecureLoopback: true, tokenRef: 'env:HEC', maxBatchRecords: 4, channel: '11111111-2222-3333-4444-555555555555' });
      const ctx = { sourceId: 'contoso', sliceId: 'L-001795000000000-001795003600000', page: 0 };
      await createDestination(archiveConfig(container), secrets).send(events, ctx);
      await createDestination(hec(direct.url), secretsOf({ HEC: 't' })).send(events, ctx);
      const result = await replayArchive({ archive: new AzureBlobDestination(archiveConfig(container), secrets), archiveConfig: archiveConfig(container), to: createDestination(hec(replayed.url), secretsOf({ HEC: 't' })) });
      assert.deepEqual(result, { pages: 1, events: 6 });
      assert.deepEqual(replayed.requests.map((q) => q.body), direct.requests.map((q) => q.body));
    });
  });

  describe('google-secops', () => {
    let g: SecOpsReceiver;
    before(async () => { g = await startSecOpsReceiver(); });
    after(async () => { await g.close(); });
    const config = (extra: Record<string, unknown> = {}) => configOf<GoogleSecOpsDestinationConfig>({ id: 'secops', type: 'google-secops', customerId: SECOPS_CUSTOMER_ID, url: g.url, allowInsecureLoopback: true, serviceAccountRef: 'env:SA', ...extra });

    it('sends rows as OFFICE_365_MESSAGETRACE entries and details as UDM events (Google has no parser for them), run after run in order', async () => {
      g.batches.length = 0;
      g.udmBatches.length = 0;
      g.receiver.requests.length = 0;
      const ctx = ctxOf();
      await createDestination(config({ namespace: 'contoso', labels: { tenant: 'contoso' } }), secretsOf({ SA: g.keyJson })).send(events, ctx);
      assert.deepEqual(g.receiver.requests.filter((q) => q.path.startsWith('/v2/')).map((q) => q.path), ['/v2/unstructuredlogentries:batchCreate', '/v2/udmevents:batchCreate', '/v2/unstructuredlogentries:batchCreate']);
      assert.deepEqual(ctx.progress, [2, 5, 6]);
      assert.deepEqual(g.batches.map((b) => b.entries.length), [2, 1]);
      const udm = g.udmBatches[0]!.events;
      assert.equal(udm.length, 3, 'the receiver accepted them: fields and enums of the UDM schema');
      assert.deepEqual(udm.map((u) => (u.metadata as Record<string, unknown>).product_log_id), events.slice(2, 5).map((e) => e.eventId));
      assert.deepEqual(udm.map((u) => (u.metadata as Record<string, unknown>).event_timestamp), events.slice(2, 5).map((e) => new Date(seconds(e) * 1000).toISOString()));
      const fail = udm[2]!;
      assert.deepEqual((fail.security_result as Record<string, unknown>[])[0]!.action, ['FAIL']);
      assert.deepEqual(((fail.network as Record<string, unknown>).smtp as Record<string, unknown>).server_response, ['550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table']);
      assert.deepEqual((fail.metadata as Record<string, unknown>).ingestion_labels, [{ key: 'tenant', value: 'contoso' }]);
      assert.equal((fail.principal as Record<string, unknown>).namespace, 'contoso');
      assert.equal((fail.additional as Record<string, unknown>).trace_event_id, events[1]!.eventId);
      assert.equal(g.batches[0]!.entries[1]!.ts_rfc3339, new Date(seconds(events[1]!) * 1000).toISOString());
    });

    it('with a log type of your own (its own parser), sends details as entries of that log type in the configured format', async () => {
      g.batches.length = 0;
      g.udmBatches.length = 0;
      const ctx = ctxOf();
      await createDestination(config({ logType: 'OFFICE_365', format: 'raw' }), secretsOf({ SA: g.keyJson })).send(events, ctx);
      assert.equal(g.udmBatches.length, 0);
      assert.deepEqual(g.batches.map((b) => [b.log_type, b.entries.length]), [['OFFICE_365', 6]]);
      assert.deepEqual(g.batches[0]!.entries.map((x) => (JSON.parse(x.log_text) as TraceEvent).eventId), events.map((e) => e.eventId));
      assert.deepEqual(ctx.progress, [6]);
    });

    it('applies the privacy rules to the UDM events of details too', async () => {
      g.udmBatches.length = 0;
      await createDestination(config({ privacy: { hash: ['recipientAddress'] } }), secretsOf({ SA: g.keyJson })).send(events, ctxOf());
      const text = JSON.stringify(g.udmBatches);
      assert.equal(g.udmBatches[0]!.events.length, 3);
      assert.ok(!text.includes('bob@example.org'), 'the recipient is hashed in the row and in the texts');
    });
  });
});
