// The settle seen-store on Azurite: one entity per page in a partition per source and bucket,
// merged by level, overwritten by a redo, a record too large for an entity in a blob it names,
// records of earlier versions (blobs) still merged, and a settled bucket dropped whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { storageFromEnvironment } from '../../shared/state/storage';
import { pad15 } from '../../shared/state/ledger';
import { SeenStore } from '../../shared/settle/seen-store';
import { testStorage, uniqueName } from '../support/azurite';

const BUCKET = Date.UTC(2026, 10, 20, 12);

async function setup() {
  const storage = storageFromEnvironment({ JobsStorage: await testStorage() });
  const name = `${uniqueName('ss')}seen`;
  await storage.ensure([name], [], [name]);
  return { store: new SeenStore(storage.table(name), storage.container(name)), table: storage.table(name), container: storage.container(name) };
}

const rec = (pairs: [string, string][]) => ({ keys: pairs.map(([k]) => k), fps: pairs.map(([, f]) => f) });

test('records merge by level: live, then lower re-read levels overriding, never the reader\'s own level; a redo overwrites its record', async () => {
  const { store, table } = await setup();
  await store.write('contoso', BUCKET, 'L-a-p0', rec([['k1', 'delivered|1|'], ['k2', 'pending|2|']]));
  await store.write('contoso', BUCKET, 'R0-a-p0', rec([['k2', 'delivered|2|'], ['k3', 'failed|3|']]));
  await store.write('contoso', BUCKET, 'R1-a-p0', rec([['k1', 'expanded|1|']]));
  await store.write('contoso', BUCKET + 3600_000, 'L-b-p0', rec([['other', 'x||']]));
  assert.deepEqual([...(await store.load('contoso', BUCKET, 0))], [['k1', 'delivered|1|'], ['k2', 'pending|2|']]);
  assert.deepEqual(Object.fromEntries(await store.load('contoso', BUCKET, 1)), { k1: 'delivered|1|', k2: 'delivered|2|', k3: 'failed|3|' });
  assert.deepEqual(Object.fromEntries(await store.load('contoso', BUCKET, 2)), { k1: 'expanded|1|', k2: 'delivered|2|', k3: 'failed|3|' });
  await store.write('contoso', BUCKET, 'L-a-p0', rec([['k1', 'delivered|1|']]));
  assert.deepEqual(Object.fromEntries(await store.load('contoso', BUCKET, 0)), { k1: 'delivered|1|' });
  let n = 0;
  for await (const e of table.listEntities()) {
    n++;
    for (const [k, v] of Object.entries(e)) if (v instanceof Uint8Array) assert.ok(v.length <= 64 * 1024, `${k} over 64 KiB`);
  }
  assert.equal(n, 4, 'one entity per writer');
});

test('a record ten times what an entity holds goes to a blob the entity names; a bucket of 250 pages drops whole', async () => {
  const { store, table, container } = await setup();
  // 400,000 random keys: over 7.2 MB of gzip, ten times the 720 KiB an entity holds.
  const big = rec(Array.from({ length: 400_000 }, (_, i) => [randomBytes(16).toString('hex'), `delivered|${i}|10.0.0.1`] as [string, string]));
  assert.ok(gzipSync(JSON.stringify(big)).length > 10 * 720 * 1024);
  await store.write('contoso', BUCKET, 'L-big-p0', big);
  for (let p = 0; p < 250; p++) await store.write('contoso', BUCKET, `L-s-p${p}`, rec([[`s${p}`, 'delivered||']]));
  const blobs: string[] = [];
  for await (const b of container.listBlobsFlat()) blobs.push(b.name);
  assert.deepEqual(blobs, [`contoso/${pad15(BUCKET)}/L-big-p0.json.gz`]);
  const merged = await store.load('contoso', BUCKET, 0);
  assert.equal(merged.size, 400_000 + 250);
  assert.equal(merged.get(big.keys[77]!), big.fps[77]);
  const bytes = await store.drop('contoso', BUCKET);
  assert.ok(bytes > 10 * 720 * 1024);
  let left = 0;
  for await (const _ of table.listEntities()) left++;
  for await (const _ of container.listBlobsFlat()) left++;
  assert.equal(left, 0, 'nothing of the bucket is left');
  assert.equal((await store.load('contoso', BUCKET, 5)).size, 0);
});

test('records an earlier version wrote as blobs are merged with the table\'s and dropped with the bucket', async () => {
  const { store, container } = await setup();
  const legacy = gzipSync(Buffer.from(JSON.stringify(rec([['old', 'pending||'], ['both', 'pending||']]))));
  await container.getBlockBlobClient(`contoso/${pad15(BUCKET)}/L-old-p0.json.gz`).upload(legacy, legacy.length);
  await store.write('contoso', BUCKET, 'R0-new-p0', rec([['both', 'delivered||']]));
  assert.deepEqual(Object.fromEntries(await store.load('contoso', BUCKET, 1)), { old: 'pending||', both: 'delivered||' });
  assert.equal(await store.drop('contoso', BUCKET) > 0, true);
  let left = 0;
  for await (const _ of container.listBlobsFlat()) left++;
  assert.equal(left, 0);
});
