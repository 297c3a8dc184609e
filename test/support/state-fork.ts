/**
 * A prepared state, forked: the crash matrices kill one process of a run that starts from the same
 * prepared state every time (a first timer run and its jobs). Building that state again for each
 * of a matrix's hundred runs cost more than the run itself. `snapshotState` takes the state of a
 * prepared harness once (its tables, queues and containers on Azurite, and what the receivers got
 * while it was prepared); `forkState` copies it under a new table prefix and queue name for each
 * run, and a new harness attaches to the copy as a restarted process attaches to a dead one's.
 *
 * What is copied: every table, container and queue the runtime names after the prefix and queue
 * (entities with their properties, blobs with their metadata and content type, queued messages).
 * What is not: ETags and timestamps, which Azurite gives the copies anew (the collector never reads
 * a timestamp, and a new process reads every ETag it writes on); and a message's dequeue count
 * and visibility (the snapshot is taken with the queues drained: `snapshotState` refuses a queue
 * that still holds a message, so nothing depends on either).
 */
import { TableClient, TableServiceClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { testStorage, uniqueName } from './azurite';
import type { Harness } from './worker-harness';

export interface StateSnapshot {
  /** The prepared harness's clock when the snapshot was taken: a fork's process starts there. */
  at: number;
  prefix: string;
  queueName: string;
  tables: { suffix: string; entities: Record<string, unknown>[] }[];
  containers: { suffix: string; blobs: { name: string; data: Buffer; contentType?: string; metadata?: Record<string, string> }[] }[];
  /** What each receiver had received when the snapshot was taken (a fork's run starts from it). */
  received: Map<{ events: unknown[] }, unknown[]>;
}

const QUEUE_SUFFIXES = ['', '-poison', '-poison-poison'];
/** Entities a transaction may hold (the service's limit is 100), and a cap on its body (4 MB). */
const BATCH_ENTITIES = 100;
const BATCH_BYTES = 2 * 1024 * 1024;

function strip(e: TableEntityResult<Record<string, unknown>>): Record<string, unknown> {
  const { etag: _etag, timestamp: _timestamp, 'odata.etag': _odataEtag, 'odata.metadata': _odataMetadata, ...rest } = e as Record<string, unknown>;
  return rest;
}

/**
 * The state of `h` (a harness whose work is done: its queues empty), and what `receivers` hold now.
 * `h` must not be used afterwards.
 */
export async function snapshotState(h: Pick<Harness, 'prefix' | 'queueName' | 'releaseInFlight'> & { clock: { now(): number } }, receivers: readonly { events: unknown[] }[]): Promise<StateSnapshot> {
  await h.releaseInFlight();
  const cs = await testStorage();
  const queues = QueueServiceClient.fromConnectionString(cs);
  for (const s of QUEUE_SUFFIXES) {
    const n = (await queues.getQueueClient(h.queueName + s).getProperties()).approximateMessagesCount ?? 0;
    if (n) throw new Error(`snapshotState: queue ${h.queueName + s} still holds ${n} message(s); drain the prepared harness first`);
  }
  const tables: StateSnapshot['tables'] = [];
  const service = TableServiceClient.fromConnectionString(cs, { allowInsecureConnection: true });
  for await (const t of service.listTables({ queryOptions: { filter: `TableName ge '${h.prefix}' and TableName lt '${h.prefix}~'` } })) {
    const name = t.name!;
    // A longer prefix that starts with this one (h…x1 and h…x12) is another harness's.
    if (!/^[a-z]/i.test(name.slice(h.prefix.length))) continue;
    const client = TableClient.fromConnectionString(cs, name, { allowInsecureConnection: true });
    const entities: Record<string, unknown>[] = [];
    for await (const e of client.listEntities()) entities.push(strip(e));
    tables.push({ suffix: name.slice(h.prefix.length), entities });
  }
  const containers: StateSnapshot['containers'] = [];
  const blobs = BlobServiceClient.fromConnectionString(cs);
  for await (const c of blobs.listContainers({ prefix: h.prefix })) {
    if (!/^[a-z]/.test(c.name.slice(h.prefix.length))) continue;
    const container = blobs.getContainerClient(c.name);
    const list: StateSnapshot['containers'][number]['blobs'] = [];
    for await (const b of container.listBlobsFlat({ includeMetadata: true })) {
      const data = await container.getBlockBlobClient(b.name).downloadToBuffer();
      list.push({ name: b.name, data, ...(b.properties.contentType ? { contentType: b.properties.contentType } : {}), ...(b.metadata ? { metadata: b.metadata } : {}) });
    }
    containers.push({ suffix: c.name.slice(h.prefix.length), blobs: list });
  }
  return { at: h.clock.now(), prefix: h.prefix, queueName: h.queueName, tables, containers, received: new Map(receivers.map((r) => [r, [...r.events]])) };
}

/** A copy of the snapshot under a new prefix and queue, for a harness to attach to; the receivers hold what they held at the snapshot. */
export async function forkState(s: StateSnapshot): Promise<{ prefix: string; queueName: string }> {
  const cs = await testStorage();
  const prefix = uniqueName('h');
  const queueName = uniqueName('q');
  const queues = QueueServiceClient.fromConnectionString(cs);
  const blobs = BlobServiceClient.fromConnectionString(cs);
  await Promise.all([
    ...QUEUE_SUFFIXES.map((q) => queues.getQueueClient(queueName + q).createIfNotExists()),
    ...s.tables.map(async (t) => {
      const client = TableClient.fromConnectionString(cs, prefix + t.suffix, { allowInsecureConnection: true });
      await client.createTable();
      const byPartition = new Map<string, Record<string, unknown>[]>();
      for (const e of t.entities) {
        const pk = String(e.partitionKey);
        if (!byPartition.has(pk)) byPartition.set(pk, []);
        byPartition.get(pk)!.push(e);
      }
      for (const entities of byPartition.values()) {
        let batch: TransactionAction[] = [];
        let bytes = 0;
        const flush = async () => {
          if (batch.length) await client.submitTransaction(batch);
          batch = [];
          bytes = 0;
        };
        for (const e of entities) {
          const size = JSON.stringify(e).length * 2;
          if (batch.length >= BATCH_ENTITIES || (batch.length && bytes + size > BATCH_BYTES)) await flush();
          batch.push(['create', e as { partitionKey: string; rowKey: string }]);
          bytes += size;
        }
        await flush();
      }
    }),
    ...s.containers.map(async (c) => {
      const container = blobs.getContainerClient(prefix + c.suffix);
      await container.createIfNotExists();
      for (const b of c.blobs) {
        await container.getBlockBlobClient(b.name).uploadData(b.data, {
          ...(b.contentType ? { blobHTTPHeaders: { blobContentType: b.contentType } } : {}),
          ...(b.metadata ? { metadata: b.metadata } : {}),
        });
      }
    }),
  ]);
  for (const [r, events] of s.received) r.events.splice(0, r.events.length, ...events);
  return { prefix, queueName };
}
