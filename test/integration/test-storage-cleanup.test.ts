/**
 * The test processes' cleanup (test/support/azurite.ts): a process deletes the queues, tables and
 * containers named after the unique names it took, and nothing else (another name that only
 * starts with the same characters, h…x1 and h…x12, stays). This file takes no other names, so
 * calling the cleanup in the middle of it deletes nothing another test needs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { deleteTaken, testStorage, uniqueName } from '../support/azurite';

describe('test storage cleanup', () => {
  it("deletes what this process's unique names name, and leaves a longer name that only starts the same", async () => {
    const cs = await testStorage();
    const prefix = uniqueName('c');
    const queue = uniqueName('q');
    const other = `${prefix}2`; // not taken by this process: another name that starts with the same characters
    const queues = QueueServiceClient.fromConnectionString(cs);
    const blobs = BlobServiceClient.fromConnectionString(cs);
    const table = (n: string) => TableClient.fromConnectionString(cs, n, { allowInsecureConnection: true });
    for (const q of [queue, `${queue}-poison`, `${other}q`]) await queues.getQueueClient(q).createIfNotExists();
    for (const t of [`${prefix}cursors`, `${prefix}budget`, `${other}cursors`]) await table(t).createTable();
    for (const c of [`${prefix}spill`, `${other}spill`]) await blobs.getContainerClient(c).createIfNotExists();
    await blobs.getContainerClient(`${prefix}spill`).getBlockBlobClient('b').uploadData(Buffer.from('x'));
    await queues.getQueueClient(queue).sendMessage('left over');

    const deleted = await deleteTaken(cs);
    assert.deepEqual(deleted, { queues: 2, tables: 2, containers: 1 });
    assert.equal(await queues.getQueueClient(queue).exists(), false);
    assert.equal(await queues.getQueueClient(`${other}q`).exists(), true, 'the longer name\'s queue stays');
    assert.equal(await blobs.getContainerClient(`${prefix}spill`).exists(), false);
    assert.equal(await blobs.getContainerClient(`${other}spill`).exists(), true);
    await assert.rejects(table(`${prefix}cursors`).getEntity('a', 'b'), (e: { statusCode?: number }) => e.statusCode === 404);
    await table(`${other}cursors`).createEntity({ partitionKey: 'a', rowKey: 'b' });
    // The longer name's resources are this test's to remove.
    await queues.deleteQueue(`${other}q`);
    await table(`${other}cursors`).deleteTable();
    await blobs.deleteContainer(`${other}spill`);
  });
});
