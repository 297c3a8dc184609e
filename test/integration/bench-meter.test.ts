// The cost benchmark's counters (bench/meter.ts): the storage proxy counts what the real storage
// SDKs send to Azurite, by service and operation, and the metered telemetry counts one exported
// record per metric series per interval.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, filtersNonKey, MeteredTelemetry, startStorageMeter } from '../../bench/meter';
import { storageFromEnvironment } from '../../shared/state/storage';
import { ManualClock } from '../../shared/time/clock';
import { stopTestStorage, testStorage, uniqueName } from '../support/azurite';

after(() => stopTestStorage());

test('the storage meter counts the SDK requests through it by service and operation, a table batch per operation', async () => {
  const meter = await startStorageMeter(await testStorage());
  try {
    const storage = storageFromEnvironment({ JobsStorage: meter.connectionString });
    const tableName = uniqueName('meter');
    const queueName = uniqueName('meter');
    const containerName = uniqueName('meter');
    await storage.ensure([tableName], [queueName], [containerName]);
    meter.reset();
    const table = storage.table(tableName);
    await table.upsertEntity({ partitionKey: 'p', rowKey: 'a', n: 1 });
    await table.getEntity('p', 'a');
    await table.submitTransaction([['upsert', { partitionKey: 'p', rowKey: 'b' }], ['upsert', { partitionKey: 'p', rowKey: 'c' }], ['upsert', { partitionKey: 'p', rowKey: 'd' }]]);
    const queue = storage.queue(queueName);
    await queue.sendMessage('x');
    const got = await queue.receiveMessages({ numberOfMessages: 1 });
    await queue.deleteMessage(got.receivedMessageItems[0]!.messageId, got.receivedMessageItems[0]!.popReceipt);
    const blob = storage.container(containerName).getBlockBlobClient('b.json');
    await blob.upload('{}', 2);
    await blob.downloadToBuffer();
    assert.deepEqual(meter.counts(), {
      'table write-entity': 1, 'table read-entity': 1, 'table batch-op': 3,
      'queue put-message': 1, 'queue get-messages': 1, 'queue delete-message': 1,
      // downloadToBuffer asks for the blob's properties, then downloads it: two billable reads.
      'blob write': 1, 'blob read': 2,
    });
    // The same counts by resource (the table, queue or container named; a batch by the table its operations name).
    assert.deepEqual(meter.byResource(), {
      [`table write-entity ${tableName}`]: 1, [`table read-entity ${tableName}`]: 1, [`table batch-op ${tableName}`]: 3,
      [`queue put-message ${queueName}`]: 1, [`queue get-messages ${queueName}`]: 1, [`queue delete-message ${queueName}`]: 1,
      [`blob write ${containerName}`]: 1, [`blob read ${containerName}`]: 2,
    });
    // Entities read: the point read above, then a key query (4 entities) and a query on a non-key property.
    assert.deepEqual(meter.reads(), { entities: 1, queries: 0, nonKeyQueries: 0 });
    let n = 0;
    for await (const _ of table.listEntities({ queryOptions: { filter: "PartitionKey eq 'p' and RowKey ge 'a'" } })) n++;
    for await (const _ of table.listEntities({ queryOptions: { filter: "PartitionKey eq 'p' and n eq 1" } })) n++;
    assert.equal(n, 5);
    assert.deepEqual(meter.reads(), { entities: 6, queries: 2, nonKeyQueries: 1 });
  } finally {
    await meter.close();
  }
});

test('a query filters a non-key property when its filter names one outside quoted values', () => {
  assert.equal(filtersNonKey(`/acct/t()?$filter=${encodeURIComponent("PartitionKey eq 'p' and RowKey ge 'L-0' and RowKey lt 'M'")}`), false);
  assert.equal(filtersNonKey(`/acct/t()?$filter=${encodeURIComponent("PartitionKey eq 'p' and state eq 'parked'")}`), true);
  assert.equal(filtersNonKey(`/acct/t()?$filter=${encodeURIComponent("PartitionKey eq 'state eq x'")}`), false);
});

test('storage requests are classified by what they cost', () => {
  assert.equal(classify('queue', 'GET', '/acct/q/messages?peekonly=true'), 'peek');
  assert.equal(classify('queue', 'GET', '/acct/q/messages?numofmessages=4'), 'get-messages');
  assert.equal(classify('queue', 'PUT', '/acct/q/messages/abc?popreceipt=x&visibilitytimeout=30'), 'update-message');
  assert.equal(classify('blob', 'PUT', '/acct/c/b?comp=lease'), 'lease');
  assert.equal(classify('blob', 'GET', '/acct/c?restype=container&comp=list'), 'list');
  assert.equal(classify('table', 'POST', '/acct/$batch'), 'batch');
});

test('metered telemetry exports one record per metric series per interval and one per event', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const telemetry = new MeteredTelemetry(clock, 60_000);
  telemetry.count('apiRequests', 1, { source: 'a', status: '200' });
  telemetry.count('apiRequests', 1, { source: 'a', status: '200' });
  telemetry.count('apiRequests', 1, { source: 'b', status: '200' });
  telemetry.gauge('lagSeconds', 5, { source: 'a' });
  telemetry.event('mtc.health', { source: 'a', state: 'Collecting' });
  clock.advance(60_000);
  telemetry.count('apiRequests', 1, { source: 'a', status: '200' });
  clock.advance(60_000);
  const exported = telemetry.flush();
  // Interval 1: two counter series + the gauge; interval 2: one counter series + the gauge (held).
  assert.equal(exported.metricRecords, 5);
  assert.equal(exported.eventRecords, 1);
  assert.ok(exported.metricBytes > 5 * 300 && exported.eventBytes > 300, JSON.stringify(exported));
});
