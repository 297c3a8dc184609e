import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient } from '@azure/storage-blob';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { AzureBlobDestinationConfig } from '../../shared/destinations/azure-blob/config';
import type { AzureMonitorDestinationConfig } from '../../shared/destinations/azure-monitor/config';
import type { HttpDestinationConfig } from '../../shared/destinations/http/config';
import { createDestination } from '../../shared/destinations';
import { AzureBlobDestination } from '../../shared/destinations/azure-blob/destination';
import { replayArchive } from '../../shared/destinations/azure-blob/replay';
import { AzureMonitorDestination } from '../../shared/destinations/azure-monitor/destination';
import { SENTINEL_COLUMNS } from '../../shared/formats';
import { createSelfSignedCertificate } from '../../simulator/tls';
import { testStorage, uniqueName } from '../support/azurite';
import { configOf, ctxOf, rejection } from './helpers';
import { ACCEPTED, manyEvents, sampleEvents } from './fixtures';
import { secretsOf, startVendorReceiver, type VendorReceiver } from './vendor-receiver';

const fakeCredential: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: 'fake-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

describe('azure-monitor (real @azure/monitor-ingestion SDK against a local Logs Ingestion endpoint)', () => {
  let receiver: VendorReceiver;
  let original: string[] = [];
  before(async () => {
    const cert = await createSelfSignedCertificate();
    original = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...original, cert.certPem]);
    receiver = await startVendorReceiver(() => ({ status: 204 }), cert);
  });
  after(async () => {
    await receiver.close();
    tls.setDefaultCACertificates(original);
  });

  const config = () => configOf<AzureMonitorDestinationConfig>({ id: 'sentinel', type: 'azure-monitor', endpoint: receiver.url, ruleId: 'dcr-0123456789abcdef0123456789abcdef', streamName: 'Custom-MessageTrace_CL', acceptedDomains: ACCEPTED });

  it('uploads sentinel columns to /dataCollectionRules/<id>/streams/<stream> with a bearer token, gzipped, in order', async () => {
    receiver.handler = () => ({ status: 204 });
    receiver.requests.length = 0;
    const d = new AzureMonitorDestination(config(), secretsOf({}), { credential: fakeCredential });
    const ctx = ctxOf();
    await d.send(sampleEvents(), ctx);
    const req = receiver.requests[0]!;
    assert.equal(req.path, '/dataCollectionRules/dcr-0123456789abcdef0123456789abcdef/streams/Custom-MessageTrace_CL');
    assert.equal(req.query.get('api-version'), '2023-01-01');
    assert.equal(req.headers.authorization, 'Bearer fake-token');
    assert.equal(req.gzipped, true);
    const rows = JSON.parse(req.body) as Record<string, unknown>[];
    assert.equal(rows.length, 3);
    const names = new Set(SENTINEL_COLUMNS.map((c) => c.name));
    for (const row of rows) for (const k of Object.keys(row)) assert.ok(names.has(k), `column ${k} is declared`);
    assert.deepEqual(rows.map((r) => r.Direction), ['inbound', 'outbound', 'internal']);
    assert.deepEqual(ctx.progress, [3]);
  });

  it('keeps each call under 1 MB and reports progress after each', async () => {
    receiver.handler = () => ({ status: 204 });
    receiver.requests.length = 0;
    const d = new AzureMonitorDestination(configOf<AzureMonitorDestinationConfig>({ id: 'sentinel', type: 'azure-monitor', endpoint: receiver.url, ruleId: 'dcr-0123456789abcdef0123456789abcdef', maxBatchBytes: 200_000 }), secretsOf({}), { credential: fakeCredential });
    const ctx = ctxOf();
    await d.send(manyEvents(2000), ctx);
    assert.ok(receiver.requests.length > 1);
    for (const q of receiver.requests) assert.ok(Buffer.byteLength(q.body) <= 200_000);
    assert.equal(ctx.progress.at(-1), 2000);
    assert.equal(receiver.requests.reduce((n, q) => n + (JSON.parse(q.body) as unknown[]).length, 0), 2000);
  });

  it('retries a 429 and stops on a 403 with the role to assign', async () => {
    const statuses = [429, 403];
    receiver.requests.length = 0;
    receiver.handler = (_q, i) => ({ status: statuses[i]!, body: { error: { code: i ? 'Forbidden' : 'TooManyRequests', message: 'x' } }, headers: i ? ({} as Record<string, string>) : { 'retry-after': '5' } });
    const d = new AzureMonitorDestination(config(), secretsOf({}), { credential: fakeCredential });
    const a = await rejection(d.send(sampleEvents(), ctxOf()));
    const b = await rejection(d.send(sampleEvents(), ctxOf()));
    assert.equal(a.retryable, true);
    assert.equal(b.retryable, false);
    assert.match(b.fix ?? '', /Monitoring Metrics Publisher/);
  });

  it('gives up on an upload after the destination\'s timeout, as a retryable Timeout', async () => {
    receiver.handler = () => ({ status: 204, delayMs: 20_000 });
    const d = new AzureMonitorDestination(configOf<AzureMonitorDestinationConfig>({ id: 'sentinel', type: 'azure-monitor', endpoint: receiver.url, ruleId: 'dcr-0123456789abcdef0123456789abcdef', timeout: '1s' }), secretsOf({}), { credential: fakeCredential });
    const started = Date.now();
    const e = await rejection(d.send(sampleEvents(), ctxOf()));
    assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
    assert.equal(e.code, 'Timeout');
    assert.equal(e.retryable, true);
    assert.match(e.message, /did not answer within its timeout of 1 s/);
  });
});

describe('azure-blob archive (Azurite) and replay', () => {
  let connectionString: string;
  before(async () => { connectionString = await testStorage(); });
  const archiveConfig = (container: string, extra: Record<string, unknown> = {}) => configOf<AzureBlobDestinationConfig>({ id: 'archive', type: 'azure-blob', connectionStringRef: 'env:ARCHIVE_CS', container, prefix: 'mtc/', ...extra });

  it('uses its timeout: a blob endpoint that does not answer fails the upload after it', async () => {
    assert.equal(archiveConfig('slow').timeoutMs, 30_000, 'the default is 30 s');
    const slow = await startVendorReceiver(() => ({ status: 201, delayMs: 20_000 }));
    try {
      const cs = connectionString.replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=${slow.url}/devstoreaccount1`);
      const config = archiveConfig('slow', { timeout: '1s' });
      assert.equal(config.timeoutMs, 1_000);
      const d = createDestination(config, secretsOf({ ARCHIVE_CS: cs }));
      const started = Date.now();
      const e = await rejection(d.send(sampleEvents(), ctxOf()));
      assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
      assert.equal(e.code, 'Timeout');
      assert.equal(e.retryable, true);
      assert.ok(slow.requests.length >= 1, 'the upload reached the endpoint');
    } finally {
      await slow.close();
    }
  });

  it('writes one NDJSON.gz blob per slice page under a deterministic name, and a repeat overwrites it', async () => {
    const container = uniqueName('arch');
    const secrets = secretsOf({ ARCHIVE_CS: connectionString });
    const d = createDestination(archiveConfig(container, { archiveRawPages: true }), secrets);
    const events = sampleEvents();
    const ctx = ctxOf([], 3);
    await d.send(events, ctx);
    await d.send(events, ctxOf([], 3));
    assert.deepEqual(ctx.progress, [3]);
    const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
    const names: string[] = [];
    for await (const b of client.listBlobsFlat()) names.push(b.name);
    const base = 'mtc/contoso/2026/11/18/L-001795000000000-001795003600000/p000003';
    assert.deepEqual(names.sort(), [`${base}.ndjson.gz`, `${base}.page.json.gz`]);
    const lines = gunzipSync(await client.getBlockBlobClient(`${base}.ndjson.gz`).downloadToBuffer()).toString('utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), JSON.parse(JSON.stringify(events)));
    const page = JSON.parse(gunzipSync(await client.getBlockBlobClient(`${base}.page.json.gz`).downloadToBuffer()).toString('utf8')) as { value: unknown[] };
    assert.deepEqual(page.value, events.map((e) => e.row));
  });

  it('replays an archive to another destination with a result identical to direct delivery', async () => {
    const container = uniqueName('replay');
    const secrets = secretsOf({ ARCHIVE_CS: connectionString });
    const direct = await startVendorReceiver(() => ({ status: 200 }));
    const replayed = await startVendorReceiver(() => ({ status: 200 }));
    try {
      const httpConfig = (url: string) => configOf<HttpDestinationConfig>({ id: 'siem', type: 'http', url: `${url}/ingest`, allowInsecureLoopback: true, maxBatchRecords: 2 });
      const archive = createDestination(archiveConfig(container), secrets);
      const live = createDestination(httpConfig(direct.url), secrets);
      const pages = [sampleEvents(), manyEvents(5)];
      for (const [i, events] of pages.entries()) {
        await archive.send(events, { sourceId: 'contoso', sliceId: 'L-001795000000000-001795003600000', page: i });
        await live.send(events, { sourceId: 'contoso', sliceId: 'L-001795000000000-001795003600000', page: i });
      }
      const result = await replayArchive({ archive: new AzureBlobDestination(archiveConfig(container), secrets), archiveConfig: archiveConfig(container), to: createDestination(httpConfig(replayed.url), secrets) });
      assert.deepEqual(result, { pages: 2, events: 8 });
      const view = (r: VendorReceiver) => r.requests.map((q) => ({ body: q.body, slice: q.headers['x-mtc-slice'], page: q.headers['x-mtc-page'], source: q.headers['x-mtc-source'] }));
      assert.equal(replayed.requests.length, 5);
      assert.deepEqual(view(replayed), view(direct));
    } finally {
      await direct.close();
      await replayed.close();
    }
  });

  it('refuses to replay an archive written with privacy rules', async () => {
    const secrets = secretsOf({ ARCHIVE_CS: connectionString });
    const c = archiveConfig(uniqueName('priv'), { privacy: { hash: ['recipientLocalPart'] } });
    const e = await rejection(replayArchive({ archive: new AzureBlobDestination(c, secrets), archiveConfig: c, to: createDestination(c, secrets) }));
    assert.equal(e.code, 'ArchiveNotReplayable');
  });
});
