// The page store on Azurite: small copies in a table entity (bounded chunks), large ones in a blob
// the entity points to, one conditional create deciding which copy is authoritative, and the
// copies of earlier versions (one blob per page) still read and deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { storageFromEnvironment } from '../../shared/state/storage';
import { PAGE_CHUNK_BYTES, PAGE_INLINE_CHUNKS, PageStore, pageBlobName, type StoredPage } from '../../shared/worker/page-store';
import type { TraceEvent } from '../../shared/model/row';
import { testStorage, uniqueName } from '../support/azurite';

async function setup(wrapTable?: (t: TableClient) => TableClient) {
  const storage = storageFromEnvironment({ JobsStorage: await testStorage() });
  const prefix = uniqueName('ps');
  await storage.ensure([PageStore.tableName(prefix)], [], [`${prefix}spill`]);
  const table = storage.table(PageStore.tableName(prefix));
  const container = storage.container(`${prefix}spill`);
  return { store: new PageStore(wrapTable ? wrapTable(table) : table, container), table, container };
}

/** A page of `rows` events whose text does not compress (random hex of `bytesPerRow` characters). */
function page(n: number, rows: number, bytesPerRow: number, tag = 'a'): StoredPage {
  const events = Array.from({ length: rows }, (_, i) => ({ id: `${tag}${i}`, subject: randomBytes(Math.ceil(bytesPerRow / 2)).toString('hex') }) as unknown as TraceEvent);
  return { v: 2, page: n, nextLink: `https://graph.example/next?p=${n + 1}`, boundaryKeys: ['k1'], oldestMs: 1_700_000_000_000, fetched: rows, events };
}

/** A page of 100 rows whose gzipped copy is about `target` bytes (measured, then sized once more). */
function pageOfGzip(n: number, target: number): StoredPage {
  let perRow = Math.floor((target * 2) / 100);
  for (let i = 0; i < 3; i++) {
    const size = gzipSync(JSON.stringify(page(n, 100, perRow))).length;
    perRow = Math.floor((perRow * target) / size);
  }
  return page(n, 100, perRow);
}

async function blobNames(container: ContainerClient): Promise<string[]> {
  const names: string[] = [];
  for await (const b of container.listBlobsFlat()) names.push(b.name);
  return names;
}

async function entities(table: TableClient): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const e of table.listEntities()) out.push(e);
  return out;
}

/** Sizes as the Table service counts them: every binary property under 64 KiB, the entity under 1 MiB. */
function assertWithinTableLimits(e: Record<string, unknown>): void {
  let total = 4 + 2 * (String(e.partitionKey).length + String(e.rowKey).length);
  for (const [k, v] of Object.entries(e)) {
    if (['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata'].includes(k)) continue;
    const size = v instanceof Uint8Array ? v.length : typeof v === 'string' ? 2 * v.length : 8;
    if (v instanceof Uint8Array) assert.ok(v.length <= 64 * 1024, `property ${k} holds ${v.length} bytes, over 64 KiB`);
    total += 8 + 2 * k.length + size;
  }
  assert.ok(total <= 1024 * 1024, `the entity is ${total} bytes, over 1 MiB`);
}

test('a quiet page is one table entity: no blob, read back exactly, deleted without a read', async () => {
  const { store, table, container } = await setup();
  const data = page(0, 14, 400);
  const written = await store.persist('contoso', 's1', data);
  assert.equal(written.blob, undefined);
  assert.deepEqual(await blobNames(container), []);
  const [e] = await entities(table);
  assert.equal(e!.rowKey, 's1~p0');
  assertWithinTableLimits(e!);
  assert.deepEqual((await store.read('contoso', 's1', 0))?.data, data);
  await store.delete('contoso', 's1', 0, written);
  assert.deepEqual(await entities(table), []);
  assert.equal(await store.read('contoso', 's1', 0), undefined);
});

test('a page just under the inline bound stays in the entity within the Table limits; one over it goes to a blob the entity names', async () => {
  const { store, table, container } = await setup();
  const bound = PAGE_CHUNK_BYTES * PAGE_INLINE_CHUNKS;
  const under = pageOfGzip(0, bound * 0.97);
  const over = pageOfGzip(1, bound * 1.05);
  assert.ok(gzipSync(JSON.stringify(under)).length <= bound && gzipSync(JSON.stringify(over)).length > bound, 'the two pages straddle the bound');
  const a = await store.persist('contoso', 's1', under);
  const b = await store.persist('contoso', 's1', over);
  assert.equal(a.blob, undefined);
  assert.match(b.blob ?? '', /^contoso\/s1\/p1-[0-9a-f-]{36}\.json\.gz$/);
  for (const e of await entities(table)) assertWithinTableLimits(e);
  assert.deepEqual(await blobNames(container), [b.blob]);
  assert.deepEqual((await store.read('contoso', 's1', 0))?.data, under);
  assert.deepEqual((await store.read('contoso', 's1', 1))?.data, over);
  // Deleted without knowing where (the carry page's case): the entity is read for its blob.
  await store.delete('contoso', 's1', 1);
  assert.deepEqual(await blobNames(container), []);
  assert.deepEqual((await entities(table)).map((e) => e.rowKey), ['s1~p0']);
});

test('a page ten times the entity limit (10 MB of gzip) is stored and read back whole', async () => {
  const { store, container } = await setup();
  const big = page(3, 5000, 4000);
  assert.ok(gzipSync(JSON.stringify(big)).length > 10 * 1024 * 1024);
  const written = await store.persist('contoso', 's2', big);
  assert.ok(written.blob);
  const back = await store.read('contoso', 's2', 3);
  assert.equal(back?.data.events.length, 5000);
  assert.deepEqual(back?.data, big);
  await store.delete('contoso', 's2', 3, written);
  assert.deepEqual(await blobNames(container), []);
});

for (const [label, bytesPerRow] of [['small', 300], ['large', 40_000]] as const) {
  test(`two workers persisting the same ${label} page at once: both get the first copy, and one copy is left`, async () => {
    const { store, table, container } = await setup();
    const mine = page(2, 50, bytesPerRow, 'mine');
    const theirs = page(2, 50, bytesPerRow, 'theirs');
    const [x, y] = await Promise.all([store.persist('contoso', 's3', mine), store.persist('contoso', 's3', theirs)]);
    assert.deepEqual(x.data, y.data, 'both deliver the same rows');
    assert.ok([mine.events[0]!.id, theirs.events[0]!.id].includes(x.data.events[0]!.id));
    assert.equal((await entities(table)).length, 1);
    assert.deepEqual(await blobNames(container), label === 'large' ? [x.blob] : [], 'the loser removed its own blob');
    assert.deepEqual((await store.read('contoso', 's3', 2))?.data, x.data);
  });
}

test('a create whose answer was lost and came back 409 on the retry keeps its own blob', async () => {
  // The SDK retries a create that timed out; the retry finds the entity the first attempt wrote.
  const { store, container } = await setup((t) => new Proxy(t, {
    get: (target, p) => (p === 'createEntity'
      ? async (e: Parameters<TableClient['createEntity']>[0]) => { await target.createEntity(e); throw Object.assign(new Error('The specified entity already exists.'), { statusCode: 409 }); }
      : Reflect.get(target, p)),
  }));
  const data = page(0, 50, 40_000);
  const written = await store.persist('contoso', 's4', data);
  assert.ok(written.blob);
  assert.deepEqual(await blobNames(container), [written.blob]);
  assert.deepEqual((await store.read('contoso', 's4', 0))?.data, data);
});

test('a copy an earlier version wrote (one blob per page) is read, and deleted with its blob', async () => {
  const { store, container } = await setup();
  const data = page(5, 10, 100);
  const body = gzipSync(Buffer.from(JSON.stringify(data)));
  await container.getBlockBlobClient(pageBlobName('contoso', 's5', 5)).upload(body, body.length);
  const read = await store.read('contoso', 's5', 5);
  assert.deepEqual(read?.data, data);
  assert.equal(read?.blob, pageBlobName('contoso', 's5', 5));
  await store.delete('contoso', 's5', 5);
  assert.deepEqual(await blobNames(container), []);
});

test('a damaged copy is an error naming the page, not a silent empty page', async () => {
  const { store, table } = await setup();
  await store.persist('contoso', 's6', page(0, 200, 2000));
  const e = (await entities(table))[0]!;
  await table.updateEntity({ partitionKey: String(e.partitionKey), rowKey: String(e.rowKey), c1: new Uint8Array(0) }, 'Merge');
  await assert.rejects(store.read('contoso', 's6', 0), /page 0 of slice s6/);
});
