/**
 * Azurite for tests: a real storage emulator from npm, started on free ports with in-memory
 * persistence, and stopped afterwards. No global install, no Docker, no fixed ports.
 *
 * `scripts/run-tests.js` starts one instance for the whole suite and passes its connection string
 * in MTC_TEST_STORAGE. A test file run on its own starts a private instance through
 * `testStorage()`. Tests isolate themselves with unique queue and table names.
 *
 * On the suite's shared instance, a test process deletes what it made when it is done (the queues,
 * tables and containers named after the unique names it took): Azurite keeps every message and
 * blob of every test in one in-memory collection each and rebuilds their indexes on every delete,
 * so what earlier test files left behind made every later file's queue and blob calls slower.
 *
 * The implementation lives in local/azurite.ts, because `npm start` embeds Azurite too.
 */
import { TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { uniqueName as localUniqueName } from '../../local/azurite';

export {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  connectionStringFor,
  startAzurite,
  stopTestStorage,
  testStorage,
} from '../../local/azurite';
export type { RunningAzurite, AzuritePorts, StartAzuriteOptions } from '../../local/azurite';

/** The unique names this process took (table prefixes, queue and container names). */
const taken = new Set<string>();
let cleanupArmed = false;

/** A storage-safe unique name (lowercase letters and digits) for queues and tables in one test. */
export function uniqueName(prefix: string): string {
  const name = localUniqueName(prefix);
  taken.add(name);
  if (!cleanupArmed && process.env.MTC_TEST_STORAGE && process.env.MTC_TEST_KEEP_STORAGE !== '1') {
    cleanupArmed = true;
    let ran = false;
    process.on('beforeExit', () => {
      if (ran) return;
      ran = true;
      void deleteTaken(process.env.MTC_TEST_STORAGE!).catch(() => undefined);
    });
  }
  return name;
}

/**
 * Whether `resource` is named after a taken name: the name itself, or the name followed by a
 * letter or "-" (a table prefix's tables, a queue's poison queues). A digit would make it another
 * name: h…x1 and h…x12 are two processes' or two tests' names.
 */
function isTaken(resource: string): boolean {
  for (let end = resource.length; end > 0; end--) {
    if (!taken.has(resource.slice(0, end))) continue;
    const next = resource[end];
    if (next === undefined || /[a-z-]/i.test(next)) return true;
  }
  return false;
}

/** Deletes the queues, tables and containers named after this process's unique names (the shared instance only). */
export async function deleteTaken(cs: string): Promise<{ queues: number; tables: number; containers: number }> {
  const deleted = { queues: 0, tables: 0, containers: 0 };
  if (!taken.size) return deleted;
  const queues = QueueServiceClient.fromConnectionString(cs);
  const tables = TableServiceClient.fromConnectionString(cs, { allowInsecureConnection: true });
  const blobs = BlobServiceClient.fromConnectionString(cs);
  const work: (() => Promise<unknown>)[] = [];
  for await (const q of queues.listQueues()) if (isTaken(q.name)) { deleted.queues++; work.push(() => queues.deleteQueue(q.name)); }
  for await (const t of tables.listTables()) if (t.name && isTaken(t.name)) { const n = t.name; deleted.tables++; work.push(() => tables.deleteTable(n)); }
  for await (const c of blobs.listContainers()) if (isTaken(c.name)) { deleted.containers++; work.push(() => blobs.deleteContainer(c.name)); }
  // 16 at a time: a heavy test file leaves a few thousand.
  const next = async (): Promise<void> => {
    for (let job = work.shift(); job; job = work.shift()) await job().catch(() => undefined);
  };
  await Promise.all(Array.from({ length: 16 }, next));
  return deleted;
}
