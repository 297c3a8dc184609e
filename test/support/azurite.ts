/**
 * Azurite for tests: a real storage emulator from npm, started on free ports with in-memory
 * persistence, and stopped afterwards. No global install, no Docker, no fixed ports.
 *
 * `scripts/run-tests.js` starts one instance for the whole suite and passes its connection string
 * in MTC_TEST_STORAGE. A test file run on its own starts a private instance through
 * `testStorage()`. Tests isolate themselves with unique queue and table names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
// Azurite's published, well-known development key. It is not a secret.
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  connectionString: string;
  ports: { blob: number; queue: number; table: number };
  stop(): Promise<void>;
}

export function connectionStringFor(ports: { blob: number; queue: number; table: number }): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=http://127.0.0.1:${ports.blob}/${AZURITE_ACCOUNT}`,
    `QueueEndpoint=http://127.0.0.1:${ports.queue}/${AZURITE_ACCOUNT}`,
    `TableEndpoint=http://127.0.0.1:${ports.table}/${AZURITE_ACCOUNT}`,
  ].join(';') + ';';
}

/** Starts Azurite (blob, queue and table) on free loopback ports, in memory. */
export async function startAzurite(options: { timeoutMs?: number } = {}): Promise<RunningAzurite> {
  const bin = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      bin,
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--blobHost', '127.0.0.1', '--blobPort', '0',
      '--queueHost', '127.0.0.1', '--queuePort', '0',
      '--tableHost', '127.0.0.1', '--tablePort', '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ports: Partial<Record<'blob' | 'queue' | 'table', number>> = {};
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start within ${options.timeoutMs ?? 30000} ms. Output:\n${output}`));
    }, options.timeoutMs ?? 30000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const m of output.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/g)) {
        ports[m[1]!.toLowerCase() as 'blob' | 'queue' | 'table'] = Number(m[2]);
      }
      if (ports.blob && ports.queue && ports.table) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${code} before it started. Output:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  const p = ports as { blob: number; queue: number; table: number };
  return {
    connectionString: connectionStringFor(p),
    ports: p,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

let privateInstance: Promise<RunningAzurite> | undefined;

/**
 * The storage connection string for a test: the suite's shared Azurite when the runner started
 * one, otherwise a private instance for this process that stops when the process exits.
 */
export async function testStorage(): Promise<string> {
  const shared = process.env.MTC_TEST_STORAGE;
  if (shared) return shared;
  privateInstance ??= startAzurite().then((a) => {
    process.once('exit', () => void a.stop());
    return a;
  });
  return (await privateInstance).connectionString;
}

/** Stops a private instance, if this process started one. */
export async function stopTestStorage(): Promise<void> {
  if (!privateInstance) return;
  const a = await privateInstance;
  privateInstance = undefined;
  await a.stop();
}

let counter = 0;
/** A storage-safe unique name (lowercase letters and digits) for queues and tables in one test. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${process.pid}x${Date.now().toString(36)}x${counter}`.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 60);
}
