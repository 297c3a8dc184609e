/**
 * The crash matrices' prepared-state copy (test/support/state-fork.ts) on Azurite: every table,
 * entity, blob and queue of a prefix arrives under the new prefix with its properties; a longer
 * prefix that starts with the same characters (another harness's) is left out; a queue that still
 * holds a message is refused; the receivers get back what they held at the snapshot.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { testStorage, uniqueName } from '../support/azurite';
import { forkState, snapshotState } from '../support/state-fork';

async function entities(cs: string, table: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const e of TableClient.fromConnectionString(cs, table, { allowInsecureConnection: true }).listEntities()) {
    const { etag: _e, timestamp: _t, ...rest } = e as Record<string, unknown>;
    out.push(rest);
  }
  return out.sort((a, b) => `${String(a.partitionKey)}/${String(a.rowKey)}`.localeCompare(`${String(b.partitionKey)}/${String(b.rowKey)}`));
}

describe('state fork (crash-matrix support)', () => {
  it('copies every table, entity, blob and queue of the prefix, and nothing of a longer prefix', async () => {
    const cs = await testStorage();
    const prefix = uniqueName('f');
    const queueName = uniqueName('q');
    const queues = QueueServiceClient.fromConnectionString(cs);
    for (const s of ['', '-poison', '-poison-poison']) await queues.getQueueClient(queueName + s).createIfNotExists();
    const cursors = TableClient.fromConnectionString(cs, `${prefix}cursors`, { allowInsecureConnection: true });
    await cursors.createTable();
    // 250 entities in one partition (three transactions), one in another; strings, numbers, booleans, a long text.
    for (let i = 0; i < 250; i++) await cursors.createEntity({ partitionKey: 'a', rowKey: `r${String(i).padStart(3, '0')}`, n: i, half: i + 0.5, flag: i % 2 === 0, text: 'x'.repeat(i * 100) });
    await cursors.createEntity({ partitionKey: 'b', rowKey: 'only', json: JSON.stringify({ pending: [1, 2] }) });
    const other = TableClient.fromConnectionString(cs, `${prefix}2cursors`, { allowInsecureConnection: true });
    await other.createTable();
    await other.createEntity({ partitionKey: 'a', rowKey: 'not-mine' });
    const blobs = BlobServiceClient.fromConnectionString(cs);
    const container = blobs.getContainerClient(`${prefix}spill`);
    await container.createIfNotExists();
    await container.getBlockBlobClient('p/1.json').uploadData(Buffer.from('{"rows":[]}'), { blobHTTPHeaders: { blobContentType: 'application/json' }, metadata: { rows: '0' } });
    const receiver = { events: ['one', 'two'] as unknown[] };

    const snap = await snapshotState({ prefix, queueName, clock: { now: () => 42 }, releaseInFlight: async () => undefined }, [receiver]);
    assert.equal(snap.at, 42);
    assert.deepEqual(snap.tables.map((t) => t.suffix), ['cursors'], 'the longer prefix\'s table is not copied');
    receiver.events.push('three');
    const fork = await forkState(snap);
    assert.notEqual(fork.prefix, prefix);
    assert.deepEqual(receiver.events, ['one', 'two'], 'the receiver holds what it held at the snapshot');
    assert.deepEqual(await entities(cs, `${fork.prefix}cursors`), await entities(cs, `${prefix}cursors`));
    assert.equal((await entities(cs, `${fork.prefix}cursors`)).length, 251);
    const copy = blobs.getContainerClient(`${fork.prefix}spill`).getBlockBlobClient('p/1.json');
    assert.equal((await copy.downloadToBuffer()).toString(), '{"rows":[]}');
    const props = await copy.getProperties();
    assert.equal(props.contentType, 'application/json');
    assert.deepEqual(props.metadata, { rows: '0' });
    for (const s of ['', '-poison', '-poison-poison']) assert.ok(await queues.getQueueClient(fork.queueName + s).exists(), `queue ${s || '(jobs)'} exists`);
    let tables = 0;
    for await (const t of TableServiceClient.fromConnectionString(cs, { allowInsecureConnection: true }).listTables({ queryOptions: { filter: `TableName ge '${fork.prefix}' and TableName lt '${fork.prefix}~'` } })) if (t.name) tables++;
    assert.equal(tables, 1, 'only the copied table is under the new prefix');
  });

  it('refuses a state whose queue still holds a message', async () => {
    const cs = await testStorage();
    const queueName = uniqueName('q');
    const queues = QueueServiceClient.fromConnectionString(cs);
    for (const s of ['', '-poison', '-poison-poison']) await queues.getQueueClient(queueName + s).createIfNotExists();
    await queues.getQueueClient(`${queueName}-poison`).sendMessage('left over');
    await assert.rejects(snapshotState({ prefix: uniqueName('f'), queueName, clock: { now: () => 0 }, releaseInFlight: async () => undefined }, []), /still holds 1 message/);
  });
});
