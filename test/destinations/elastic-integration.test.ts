import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { normaliseRwsRecord } from '../../shared/api/rws/client';
import type { ElasticDestinationConfig } from '../../shared/destinations/elastic/config';
import { createDestination } from '../../shared/destinations';
import { integrationDocument } from '../../shared/destinations/elastic/destination';
import { createFormatter } from '../../shared/formats';
import { makeEvent, type MessageTraceRow } from '../../shared/model/row';
import { componentTestdata } from '../support/testdata';
import { configOf, ctxOf, issuesOf } from './helpers';
import { TENANT } from './fixtures';
import { secretsOf, startVendorReceiver } from './vendor-receiver';

const testdata = (name: string) => componentTestdata('destinations', 'elastic', name);

type Doc = Record<string, unknown>;
const sample = JSON.parse(readFileSync(testdata('sample_event.json'), 'utf8')) as Doc & { microsoft: { online_message_trace: Doc }; data_stream: { dataset: string } };
const reads = JSON.parse(readFileSync(testdata('pipeline-reads.json'), 'utf8')) as { input: { rename: string }; copies: Record<string, string[]>; direction_from: string };
const integrationFields = [...readFileSync(testdata('fields.yml'), 'utf8').matchAll(/^\s+- name: (\w+)$/gm)].map((m) => m[1]!);
const record = sample.microsoft.online_message_trace;

/** The value at a dotted path (arrays of one element read as that element). */
function at(doc: unknown, path: string): unknown {
  let v: unknown = doc;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Doc)[k] : undefined;
  return Array.isArray(v) && v.length === 1 ? v[0] : v;
}

/** The sample's record as our legacy-report source delivers it (row normalised, record kept as `raw`). */
function rwsEvent() {
  return makeEvent({ tenantId: TENANT, sourceId: 'contoso', api: 'rws', collectedAt: '2022-09-05T18:20:00.000Z', fields: {}, row: normaliseRwsRecord(record)!, raw: record });
}

/** The same message as Graph returns it. */
function graphEvent() {
  const row: MessageTraceRow = {
    id: String(record.MessageTraceId), senderAddress: String(record.SenderAddress), recipientAddress: String(record.RecipientAddress),
    messageId: String(record.MessageId), receivedDateTime: '2022-09-05T18:10:13.4907658Z', subject: String(record.Subject),
    size: record.Size as number, fromIP: String(record.FromIP), toIP: String(record.ToIP), status: 'delivered',
  };
  return makeEvent({ tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2022-09-05T18:20:00.000Z', fields: {}, row });
}

const messageTrace = createFormatter({ format: 'o365-messagetrace', acceptedDomains: [], privacy: { drop: [], hash: [] } });

describe('Elastic\'s microsoft_exchange_online_message_trace integration (its own sample event)', () => {
  it('gets, from a legacy-report row, the record its pipeline parses, field for field as in the sample event', () => {
    const doc = integrationDocument(messageTrace(rwsEvent()), ['contoso.com']);
    assert.equal(typeof doc[reads.input.rename], 'string', 'the pipeline parses "message"');
    const parsed = JSON.parse(doc.message as string) as Doc;
    assert.deepEqual({ ...parsed, Received: undefined }, { ...record, Received: undefined });
    assert.equal(Date.parse(parsed.Received as string), Date.parse(`${String(record.Received)}Z`), 'Received is the same instant (UTC made explicit)');
    assert.equal(doc['@timestamp'], sample['@timestamp']);
    assert.equal(reads.direction_from, '_conf.local_domains');
    assert.deepEqual((doc._conf as { local_domains: string[] }).local_domains, ['contoso.com']);
  });

  it('gets, from a Graph row, every report field its pipeline copies into ECS, with the sample\'s values', () => {
    const parsed = JSON.parse(integrationDocument(messageTrace(graphEvent()), []).message as string) as Doc;
    const reportOnly = ['StartDate', 'EndDate'];
    for (const [field, targets] of Object.entries(reads.copies)) {
      if (reportOnly.includes(field)) {
        assert.equal(parsed[field], undefined, `${field} exists only in the legacy report`);
        continue;
      }
      assert.ok(field in parsed, `the pipeline copies ${field} to ${targets.join(', ')}`);
      if (field === 'Received') assert.equal(Date.parse(parsed[field] as string), Date.parse(`${String(record.Received)}Z`));
      else assert.deepEqual(parsed[field], record[field], field);
    }
    for (const k of Object.keys(parsed)) assert.ok(integrationFields.includes(k), `${k} is a field of the integration`);
  });

  it('maps to ECS in the integration\'s layout and dataset, matching its sample event on every field both have', () => {
    const ecs = createFormatter({ format: 'ecs', acceptedDomains: ['contoso.com'], privacy: { drop: [], hash: [] } })(rwsEvent());
    assert.equal(at(ecs, 'event.dataset'), sample.data_stream.dataset);
    assert.equal(at(ecs, 'event.dataset'), 'microsoft_exchange_online_message_trace.log');
    const same = [
      '@timestamp', 'email.from.address', 'email.to.address', 'email.local_id', 'email.message_id', 'email.subject', 'email.attachments.file.size',
      'source.ip', 'source.domain', 'source.user.email', 'source.user.id', 'source.user.name', 'source.user.domain',
      'destination.ip', 'destination.domain', 'destination.user.email', 'destination.user.id', 'destination.user.name', 'destination.user.domain',
    ];
    for (const f of same) assert.deepEqual(at(ecs, f), at(sample, f), f);
    assert.deepEqual([...(at(ecs, 'related.user') as string[])].sort(), [...(at(sample, 'related.user') as string[])].sort());
    assert.deepEqual({ ...(at(ecs, 'microsoft.online_message_trace') as Doc), Received: undefined }, { ...record, Received: undefined });
    assert.equal(at(ecs, 'email.direction'), 'inbound');
    assert.equal(at(ecs, 'event.outcome'), 'success', 'ECS allows success/failure/unknown; the integration copies the status text instead');
  });

  it('writes into the integration\'s data stream by default, and refuses ECS documents there (its pipeline would fail them)', async () => {
    const r = await startVendorReceiver((q) => ({ status: 200, body: { errors: false, items: q.body.trim().split('\n').filter((_, i) => i % 2 === 0).map(() => ({ create: { status: 201 } })) } }));
    try {
      const c = configOf<ElasticDestinationConfig>({ id: 'es', type: 'elastic', url: r.url, allowInsecureLoopback: true, apiKeyRef: 'env:ES_KEY', acceptedDomains: ['contoso.com'] });
      assert.equal(c.index, 'logs-microsoft_exchange_online_message_trace.log-default');
      assert.equal(c.format, 'o365-messagetrace');
      await createDestination(c, secretsOf({ ES_KEY: 'aWQ6a2V5' })).send([rwsEvent()], ctxOf());
      const [action, doc] = r.requests[0]!.body.trim().split('\n').map((l) => JSON.parse(l) as Doc);
      assert.deepEqual(action, { create: { _index: 'logs-microsoft_exchange_online_message_trace.log-default', _id: rwsEvent().eventId } });
      assert.deepEqual(Object.keys(doc!).sort(), ['@timestamp', '_conf', 'message']);
    } finally {
      await r.close();
    }
    assert.match(issuesOf({ id: 'es', type: 'elastic', url: 'https://es.example.com:9200', apiKeyRef: 'env:ES_KEY', format: 'ecs' }).join('\n'), /format: is "ecs", but the index "logs-microsoft_exchange_online_message_trace\.log-default" is the data stream of Elastic's message trace integration/);
  });
});
