import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueClient } from '@azure/storage-queue';
import { TableClient } from '@azure/data-tables';
import { testStorage, uniqueName } from '../support/azurite';

test('the test setup provides a real Azurite with queues and tables', async () => {
  const cs = await testStorage();
  const q = new QueueClient(cs, uniqueName('smoke'));
  await q.create();
  await q.sendMessage(Buffer.from('{"v":1}').toString('base64'));
  const got = await q.receiveMessages();
  assert.equal(Buffer.from(got.receivedMessageItems[0]!.messageText, 'base64').toString(), '{"v":1}');
  const t = TableClient.fromConnectionString(cs, uniqueName('smoke'), { allowInsecureConnection: true });
  await t.createTable();
  await t.createEntity({ partitionKey: 'p', rowKey: 'r', n: 1 });
  const e = await t.getEntity<{ n: number }>('p', 'r');
  assert.equal(e.n, 1);
  await assert.rejects(t.createEntity({ partitionKey: 'p', rowKey: 'r', n: 2 }), (err: { statusCode?: number }) => err.statusCode === 409);
});
