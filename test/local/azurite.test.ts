import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { startAzurite } from '../../local/azurite';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

test('embedded Azurite listens on the fixed ports asked for and keeps data in a folder across restarts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtc-azurite-'));
  try {
    const ports = { blob: await freePort(), queue: await freePort(), table: await freePort() };
    const first = await startAzurite({ ports, location: dir });
    assert.deepEqual(first.ports, ports);
    assert.match(first.connectionString, new RegExp(`QueueEndpoint=http://127\\.0\\.0\\.1:${ports.queue}/devstoreaccount1`));
    const q = new QueueClient(first.connectionString, 'persisted');
    await q.create();
    await q.sendMessage('kept');
    await first.stop();

    const second = await startAzurite({ location: dir });
    const again = new QueueClient(second.connectionString, 'persisted');
    const peeked = await again.peekMessages();
    assert.equal(peeked.peekedMessageItems[0]?.messageText, 'kept');
    await second.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('startAzurite rejects a port outside 0-65535 naming the option', async () => {
  await assert.rejects(startAzurite({ ports: { queue: 70000 } }), /ports\.queue must be an integer from 0/);
});
