/**
 * Page batches (issue 19): the message's schema and size at its limits, and when the planner's
 * batcher sends (full, every planner waiting or done, the linger), that a send resolves only once
 * its message is sent and fails its waiters when the send fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJob, encodeJob, isPageBatch, JobQueue, JobSchemaError, MAX_CREATED_ETAG, MAX_PAGE_BATCH, pageBatchJob, pageJob, type PageJob, type QueueJob } from '../../shared/queue/jobs';
import { PageJobBatcher } from '../../shared/queue/batcher';
import { isBatchable } from '../../shared/planning/planner';
import { BatchEntryFailed, batchEntryMeta, processPageBatch } from '../../shared/worker/jobs';
import type { MessageMeta } from '../../shared/worker/deps';
import type { HealthRow } from '../../shared/state/ledger';
import { MemoryLogger } from '../../shared/log';

const QUEUE_MESSAGE_MAX = 64 * 1024;

/** A queue that records what it is sent; `gate` holds sends until released, `fail` rejects them. */
function fakeQueue(opts: { fail?: Error } = {}) {
  const sent: QueueJob[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let gated = false;
  const queue = {
    async send(job: QueueJob) {
      if (gated) await gate;
      if (opts.fail) throw opts.fail;
      sent.push(job);
    },
  } as unknown as JobQueue;
  return { queue, sent, hold() { gated = true; }, release() { release(); } };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('page batch message', () => {
  it('decodes a batch and keeps its entries as page jobs', () => {
    const job = pageBatchJob([pageJob('a', 's1', 0), pageJob('b', 's2', 0)]);
    const decoded = decodeJob(JSON.parse(Buffer.from(encodeJob(job), 'base64').toString('utf8')));
    assert.ok(isPageBatch(decoded));
    assert.deepEqual(decoded.jobs.map((j) => `${j.sourceId}/${j.sliceId}/${j.page}`), ['a/s1/0', 'b/s2/0']);
  });

  it('stays far under the 64 KiB queue message at its largest (32 entries, longest ids, a traceparent and the longest created row ETag each)', () => {
    const tp = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const entry: PageJob = { v: 1, sourceId: 's'.repeat(64), sliceId: 'x'.repeat(200), page: 1_000_000, attempt: 10_000, traceparent: tp, created: { etag: 'e'.repeat(MAX_CREATED_ETAG), at: Number.MAX_SAFE_INTEGER } };
    const largest = encodeJob({ ...pageBatchJob(Array.from({ length: MAX_PAGE_BATCH }, () => entry)), traceparent: tp });
    assert.ok(largest.length < QUEUE_MESSAGE_MAX / 2, `${largest.length} characters of base64`);
    // Ten times the limit never becomes a message: the schema refuses it, naming the field.
    assert.throws(() => encodeJob(pageBatchJob(Array.from({ length: 10 * MAX_PAGE_BATCH }, () => entry))), /jobs/);
  });

  it('refuses a bad batch with the field and the reason', () => {
    const bad = (value: unknown, re: RegExp) => assert.throws(() => decodeJob(value), (err: unknown) => err instanceof JobSchemaError && /not a valid page batch/.test(err.message) && re.test(err.message));
    bad({ v: 1, kind: 'pages', jobs: [] }, /jobs: .*(at least|>=|too small)/i);
    bad({ v: 1, kind: 'pages', jobs: [{ v: 1, sourceId: 'a', sliceId: 'b/c', page: 0 }] }, /jobs\.0\.sliceId: must be a valid Table row id/);
    bad({ v: 1, kind: 'pages', jobs: [{ v: 1, sourceId: 'a', sliceId: 'b', page: 0, kind: 'pages' }] }, /jobs\.0/);
    bad({ v: 1, kind: 'pages', jobs: [pageJob('a', 'b', 0)], notBefore: 5 }, /notBefore/);
  });

  it('a batch is never sent delayed', async () => {
    const q = new JobQueue({ sendMessage: async () => ({}) } as never, { now: () => 0, toRealMs: (ms: number) => ms } as never);
    await assert.rejects(q.send(pageBatchJob([pageJob('a', 'b', 0)]), { delayMs: 1000 }), /never delayed/);
  });
});

describe('which slices may share a batch', () => {
  const source = { pageSize: 5000 };
  it('a live slice expected to hold at most a tenth of a page, with a measured density', () => {
    const twoMin = { startMs: 0, endMs: 120_000 };
    assert.equal(isBatchable(source, twoMin, 10_000 / 86_400_000), true, 'a 10k rows/day tenant (14 rows in 2 min)');
    assert.equal(isBatchable(source, twoMin, 500 / 120_000), true, 'exactly a tenth of a page');
    assert.equal(isBatchable(source, twoMin, 501 / 120_000), false);
    assert.equal(isBatchable(source, twoMin, undefined), false, 'a new source (no density yet)');
    assert.equal(isBatchable(source, { ...twoMin, kind: 'rescan' }, 0), false, 'a settle re-read');
    assert.equal(isBatchable(source, { ...twoMin, skip: true }, 0), false);
    assert.equal(isBatchable(source, { ...twoMin, gap: true }, 0), false);
  });
});

describe('PageJobBatcher', () => {
  it('sends one batch once every planner running waits, and resolves each only after the send', async () => {
    const f = fakeQueue();
    const b = new PageJobBatcher(f.queue, 8, 10_000);
    f.hold();
    const resolved: string[] = [];
    const planner = (id: string, delay: number) => b.run(async () => {
      for (let i = 0; i < delay; i++) await tick();
      await b.sendAll([pageJob(id, 'live-1', 0)]);
      resolved.push(id);
    });
    const all = Promise.all([planner('a', 1), planner('b', 5), planner('c', 10)]);
    for (let i = 0; i < 20; i++) await tick();
    assert.deepEqual(resolved, [], 'nobody resolves before the message is sent');
    f.release();
    await all;
    assert.equal(f.sent.length, 1);
    assert.ok(isPageBatch(f.sent[0]!));
    assert.deepEqual((f.sent[0] as { jobs: PageJob[] }).jobs.map((j) => j.sourceId), ['a', 'b', 'c']);
    assert.deepEqual(b.sent, { messages: 1, jobs: 3 });
  });

  it('a planner that ends without sending does not hold the others; a lone job goes as a plain page job', async () => {
    const f = fakeQueue();
    const b = new PageJobBatcher(f.queue, 8, 10_000);
    await Promise.all([
      b.run(async () => { await tick(); await b.sendAll([pageJob('a', 'live-1', 0)]); }),
      b.run(async () => { for (let i = 0; i < 5; i++) await tick(); }),
    ]);
    assert.equal(f.sent.length, 1);
    assert.equal(isPageBatch(f.sent[0]!), false, 'a batch of one is the page job itself');
  });

  it('splits at the maximum', async () => {
    const f = fakeQueue();
    const b = new PageJobBatcher(f.queue, 2, 10_000);
    // As forEachSource starts them: every planner has begun before the first reaches its send.
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => b.run(async () => { await tick(); await b.sendAll([pageJob(id, 'live-1', 0)]); })));
    assert.deepEqual(f.sent.map((j) => (isPageBatch(j) ? j.jobs.length : 1)), [2, 2, 1]);
    assert.equal(f.sent.flatMap((j) => (isPageBatch(j) ? j.jobs : [j])).length, 5);
  });

  it('a slow planner delays the others by the linger at most', async () => {
    const f = fakeQueue();
    const b = new PageJobBatcher(f.queue, 8, 50);
    let slowDone = false;
    const t0 = performance.now();
    let fastAt = 0;
    await Promise.all([
      b.run(async () => { await tick(); await b.sendAll([pageJob('fast', 'live-1', 0)]); fastAt = performance.now() - t0; }),
      b.run(async () => { await new Promise((r) => setTimeout(r, 400)); slowDone = true; }),
    ]);
    assert.ok(slowDone);
    assert.ok(fastAt >= 40 && fastAt < 350, `the fast planner waited ${fastAt.toFixed(0)} ms (linger 50 ms, slow planner 400 ms)`);
  });

  it('a failed send fails every planner whose job it held (so each keeps its outbox)', async () => {
    const f = fakeQueue({ fail: new Error('queue unavailable') });
    const b = new PageJobBatcher(f.queue, 8, 10_000);
    const results = await Promise.allSettled(['a', 'b'].map((id) => b.run(async () => { await tick(); await b.sendAll([pageJob(id, 'live-1', 0)]); })));
    assert.equal(b.sent.messages, 1, 'both jobs were in the one message that failed');
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.match(String((results[0] as PromiseRejectedResult).reason), /queue unavailable/);
  });

  it('with a maximum of 1 every job is its own message', async () => {
    const f = fakeQueue();
    const b = new PageJobBatcher(f.queue, 1);
    await Promise.all(['a', 'b'].map((id) => b.run(() => b.sendAll([pageJob(id, 'live-1', 0)]))));
    assert.deepEqual(f.sent.map((j) => isPageBatch(j)), [false, false]);
  });
});

describe('processPageBatch', () => {
  it('runs every entry with its own stable claim owner, and throws after all ran when one threw', async () => {
    const seen: string[] = [];
    const job = pageBatchJob([pageJob('a', 's', 0), pageJob('b', 's', 0), pageJob('c', 's', 0)]);
    await assert.rejects(processPageBatch(job, { messageId: 'm1', dequeueCount: 2 }, async (entry, meta) => {
      seen.push(`${entry.sourceId}:${meta.messageId}:${meta.dequeueCount}`);
      if (entry.sourceId === 'b') throw new Error('table unavailable');
      return { outcome: 'slice-done' };
    }), (err: unknown) => err instanceof BatchEntryFailed && err.failures.length === 1 && /1 of 3 .*a\/|page 0 of s: table unavailable/.test(err.message));
    assert.deepEqual(seen.sort(), ['a:m1~0:2', 'b:m1~1:2', 'c:m1~2:2']);
    assert.equal(batchEntryMeta({ messageId: 'm1', dequeueCount: 1 }, 1).messageId, 'm1~1');
    const ok = await processPageBatch(job, { messageId: 'm2', dequeueCount: 1 }, async () => ({ outcome: 'duplicate' }));
    assert.deepEqual([ok.outcome, ok.entries?.map((e) => e.outcome)], ['batch', ['duplicate', 'duplicate', 'duplicate']]);
  });

  it('reads the health rows of its sources with one query and gives each entry its own (none for a source without a row)', async () => {
    const job = pageBatchJob([pageJob('a', 's1', 0), pageJob('b', 's1', 0), pageJob('a', 's2', 0)]);
    const asked: string[][] = [];
    const ledger = {
      async *listHealthOf(ids: readonly string[]) {
        asked.push([...ids]);
        yield { sourceId: 'a', state: 'Collecting', etag: 'W/"a"' } as HealthRow;
      },
    };
    const seen: string[] = [];
    await processPageBatch(job, { messageId: 'm', dequeueCount: 1 }, async (entry, meta) => {
      assert.ok(meta.health, `entry ${entry.sourceId}/${entry.sliceId} has its health row from the batch`);
      seen.push(`${entry.sourceId}/${entry.sliceId}:${meta.health.row?.etag ?? 'none'}`);
      return { outcome: 'slice-done' };
    }, ledger);
    assert.deepEqual(asked, [['a', 'b']], 'one query, each source once');
    assert.deepEqual(seen.sort(), ['a/s1:W/"a"', 'a/s2:W/"a"', 'b/s1:none']);
  });

  it('a failed health query leaves each entry to read its own, with a warning', async () => {
    const job = pageBatchJob([pageJob('a', 's1', 0), pageJob('b', 's1', 0)]);
    const ledger = {
      // eslint-disable-next-line require-yield -- fails before its first row
      async *listHealthOf(): AsyncGenerator<HealthRow> {
        throw new Error('table unavailable');
      },
    };
    const log = new MemoryLogger();
    const metas: MessageMeta[] = [];
    const r = await processPageBatch(job, { messageId: 'm', dequeueCount: 1 }, async (_entry, meta) => {
      metas.push(meta);
      return { outcome: 'slice-done' };
    }, ledger, log);
    assert.equal(r.entries?.length, 2);
    assert.ok(metas.every((m) => m.health === undefined), 'no entry is given a row');
    assert.ok(log.lines.some((l) => l.level === 'warn' && /health rows .* failed \(table unavailable\); each entry reads its own/.test(l.message)), log.text());
  });
});
