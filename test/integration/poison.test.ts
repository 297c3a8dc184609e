/**
 * Nothing sits unseen: every message a poison queue can hold (not UTF-8, not base64, not JSON, not
 * a page job, huge, a job of a slice id that cannot exist) becomes an unattributed poison record
 * on real Azurite, bounded and sanitised, and the sweep empties `<queue>-poison-poison`.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment, type StorageClients } from '../../shared/state/storage';
import { ManualClock } from '../../shared/time/clock';
import { MemoryLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import {
  handlePoisonMessage, listUnattributedPoison, poisonTableName, POISON_EXCERPT_MAX, POISON_REASON_MAX, sweepPoisonQueues,
  type PoisonDeps,
} from '../../shared/worker/poison';
import { testStorage, uniqueName } from '../support/azurite';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const JWT = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJlLXBhcnQtaGVyZQ';
const SECRET = 'Xy8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789';

let storage: StorageClients;
before(async () => {
  storage = storageFromEnvironment({ JobsStorage: await testStorage() });
});

async function deps(): Promise<PoisonDeps & { queueName: string; log: MemoryLogger; telemetry: MemoryTelemetry }> {
  const ledger = new Ledger(storage, uniqueName('p'));
  const queueName = uniqueName('pq');
  await storage.ensure(ledger.tableNames(), []);
  return { ledger, storage, clock: new ManualClock(T0), log: new MemoryLogger(), telemetry: new MemoryTelemetry(), queueName };
}

async function rows(d: PoisonDeps) {
  const out: Record<string, unknown>[] = [];
  for await (const e of d.storage.table(poisonTableName(d.ledger)).listEntities<Record<string, unknown>>()) out.push(e);
  return out;
}

describe('poison messages of any shape', () => {
  it('every payload is recorded as unattributed poison, bounded, and nothing throws', async () => {
    const d = await deps();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const payloads: unknown[] = [
      'not json at all',
      '{"v":2,"sourceId":"a"}',
      `{"v":1,"sourceId":"a","sliceId":"b","page":0,"${'k'.repeat(40_000)}":1}`,
      'x'.repeat(70_000),
      Buffer.from([0xff, 0xfe, 0x00, 0xc3]),
      new Uint8Array([0x80, 0x81]),
      undefined,
      null,
      42,
      { not: 'a job' },
      cyclic,
      { v: 1, sourceId: 'a/b', sliceId: 'c#d?e', page: 0 },
      { v: 1, sourceId: 'contoso', sliceId: 'L-\u0000\u001b', page: 0 },
      { v: 1, sourceId: 'contoso', sliceId: 'L-000-001', page: 0 },
      '\u0000\u001b[2J\u202eevil\r\nline',
    ];
    for (const [i, p] of payloads.entries()) {
      const outcome = await handlePoisonMessage(d, p, `msg-${i}`);
      assert.match(outcome, /unattributed poison/, `payload ${i}`);
    }
    const stored = await rows(d);
    assert.equal(stored.length, payloads.length);
    for (const e of stored) {
      assert.ok(String(e.reason).length <= POISON_REASON_MAX, `reason ${String(e.reason).length}`);
      assert.ok(String(e.excerpt).length <= POISON_EXCERPT_MAX, `excerpt ${String(e.excerpt).length}`);
      assert.doesNotMatch(String(e.excerpt) + String(e.reason), /[\p{Cc}\p{Cf}]/u);
    }
    const byId = new Map(stored.map((e) => [String(e.rowKey), e]));
    assert.match(String(byId.get('msg-0')!.reason), /not JSON/);
    assert.match(String(byId.get('msg-4')!.reason), /not UTF-8/);
    assert.equal(byId.get('msg-3')!.size, 70_000);
    // Ids that cannot be Table keys fail the job schema (parked at once, never looked up).
    assert.match(String(byId.get('msg-11')!.reason), /valid Table row id/);
    assert.match(String(byId.get('msg-13')!.reason), /unknown slice/);
  });

  it('status shows a sanitised excerpt only: no token, no secret, no control character', async () => {
    const d = await deps();
    await handlePoisonMessage(d, `{"token":"${JWT}","note":"client_secret=${SECRET}"}`, 'with-token');
    await handlePoisonMessage(d, { v: 1, sourceId: 'contoso', sliceId: 'L-1', page: 0, [SECRET]: 1 }, 'secret-as-key');
    await handlePoisonMessage(d, `\u001b]0;${SECRET}\u0007`, 'escape');
    const listed = await listUnattributedPoison(d);
    assert.equal(listed.length, 3);
    const shown = JSON.stringify(listed);
    for (const secret of [JWT, SECRET, SECRET.slice(0, 20), JWT.slice(0, 20)]) assert.ok(!shown.includes(secret), shown);
    assert.doesNotMatch(shown, /\\u00(0|1)/);
    const logs = d.log.text();
    for (const secret of [JWT, SECRET]) assert.ok(!logs.includes(secret), 'logs carry no secret either');
  });

  it('a record written raw before this change is sanitised on the way out', async () => {
    const d = await deps();
    const table = d.storage.table(poisonTableName(d.ledger));
    await table.createTable();
    await table.upsertEntity({ partitionKey: 'poison', rowKey: 'old', reason: `bad \u001b[31m ${JWT}`, excerpt: `raw ${SECRET}${'y'.repeat(5000)}`, at: T0 });
    const [old] = await listUnattributedPoison(d);
    assert.ok(!JSON.stringify(old).includes(SECRET) && !JSON.stringify(old).includes(JWT));
    assert.ok(old!.excerpt.length <= POISON_EXCERPT_MAX);
  });
});

describe('the sweep of <queue>-poison-poison', () => {
  it('takes every message out, whatever it holds, records it, and reports both poison queues for an alert', async () => {
    const d = await deps();
    const q = d.storage.queue(`${d.queueName}-poison-poison`);
    await q.createIfNotExists();
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
    await q.sendMessage('this is not base64 at all!');
    await q.sendMessage(b64(Buffer.from([0xff, 0xfe, 0xfd])));
    await q.sendMessage(b64('{"v":1,"sourceId":"contoso","sliceId":"L-nope","page":0}'));
    await q.sendMessage(`${SECRET} ${JWT}`);
    const r = await sweepPoisonQueues(d);
    assert.equal(r.handled, 4);
    assert.equal(r.depths[`${d.queueName}-poison-poison`], 0);
    assert.equal((await q.getProperties()).approximateMessagesCount, 0, 'the queue is empty');
    const listed = await listUnattributedPoison(d);
    assert.equal(listed.length, 4);
    assert.deepEqual(listed.map((l) => l.reason).sort((a, b) => a.localeCompare(b)).map((t) => t.replace(/:.*/, '')), ['page job for unknown slice contoso/L-nope', 'undecodable message', 'undecodable message', 'undecodable message']);
    assert.ok(listed.some((l) => /not base64/.test(l.reason)));
    assert.ok(listed.some((l) => /UTF-8/.test(l.reason)));
    assert.ok(listed.every((l) => l.queue === `${d.queueName}-poison-poison`));
    assert.ok(!JSON.stringify(listed).includes(SECRET) && !JSON.stringify(listed).includes(JWT));
    const gauges = [...d.telemetry.gauges.values()].filter((g) => g.name === 'mtc.queue.poison_messages');
    assert.deepEqual(gauges.map((g) => g.attributes.queue).sort(), [`${d.queueName}-poison`, `${d.queueName}-poison-poison`]);
  });

  it('a queue that does not exist yet is an empty queue', async () => {
    const d = await deps();
    const r = await sweepPoisonQueues(d);
    assert.equal(r.handled, 0);
    assert.deepEqual(Object.values(r.depths), [0, 0, 0]);
  });
});
