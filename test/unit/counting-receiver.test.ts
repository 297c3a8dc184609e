// The benchmark's receiver (bench/virtual.ts): it counts rows and bytes, and counts an event whose
// id arrived before as delivered twice, in plain and gzipped bodies; a status change is a new id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startCountingReceiver } from '../../bench/virtual';
import { eventIdOf } from '../../shared/model/row';

const row = (id: string, status: string) => ({ id, receivedDateTime: '2026-12-01T10:00:00Z', senderAddress: 'a@x', recipientAddress: 'b@y', status });

async function post(url: string, lines: unknown[], gzip = false): Promise<void> {
  const text = lines.map((l) => JSON.stringify(l)).join('\n');
  const body = gzip ? gzipSync(Buffer.from(text)) : Buffer.from(text);
  const r = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', ...(gzip ? { 'content-encoding': 'gzip' } : {}) } });
  assert.equal(r.status, 200);
}

test('the benchmark receiver counts an event delivered twice, in plain and gzipped bodies, and nothing else as a repeat', async () => {
  const receiver = await startCountingReceiver();
  try {
    const a = eventIdOf('t', row('m1', 'delivered'));
    const b = eventIdOf('t', row('m2', 'delivered'));
    const aChanged = eventIdOf('t', row('m1', 'failed'));
    assert.notEqual(a, aChanged, 'a status change is a new event id');
    await post(receiver.url, [{ eventId: a, n: 1 }, { eventId: b, n: 2 }, { eventId: aChanged, n: 3 }]);
    assert.deepEqual([receiver.rows, receiver.checked, receiver.repeated], [3, 3, 0]);
    await post(receiver.url, [{ eventId: b, n: 4 }, { other: 'no id' }], true);
    assert.deepEqual([receiver.rows, receiver.checked, receiver.repeated], [5, 4, 1], 'b again is a repeat; a line without an id is counted, not checked');
    await post(receiver.url, Array.from({ length: 1000 }, (_, i) => ({ eventId: eventIdOf('t', row(`x${i}`, 'delivered')) })));
    assert.deepEqual([receiver.checked, receiver.repeated], [1004, 1], '1000 distinct ids are no repeat');
  } finally {
    await receiver.close();
  }
});
