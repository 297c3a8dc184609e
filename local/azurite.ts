/**
 * Embedded Azurite: the real storage emulator from npm (blob, queue and table), run as a child
 * process. `npm start` uses it when no storage is configured, and the tests use it through
 * test/support/azurite.ts (which re-exports this module).
 *
 * Defaults: loopback, free ports, in-memory persistence, access log off. Fixed ports and a folder
 * for persistence are options. The child is killed when this process exits, so a crashed run does
 * not leave an emulator holding the ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
// Azurite's published, well-known development key. It is not a secret.
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuritePorts {
  blob: number;
  queue: number;
  table: number;
}

export interface RunningAzurite {
  connectionString: string;
  ports: AzuritePorts;
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** How long to wait for all three services to listen. Default 30000 ms. */
  timeoutMs?: number;
  /** Fixed ports; a missing or 0 entry picks a free port. Azurite's own defaults are 10000/10001/10002. */
  ports?: Partial<AzuritePorts>;
  /** Listening address. Default 127.0.0.1. */
  host?: string;
  /** A folder for persistent data (created if missing). Default: in-memory, lost on stop. */
  location?: string;
  /** Receives Azurite's output lines after start (the access log when `accessLog` is true). */
  onOutput?: (line: string) => void;
  /** Print Azurite's request log (to `onOutput`). Default false. */
  accessLog?: boolean;
  /** Let this process exit while Azurite runs (it is killed on exit). Default false. */
  unref?: boolean;
}

export function connectionStringFor(ports: AzuritePorts, host = '127.0.0.1'): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=http://${host}:${ports.blob}/${AZURITE_ACCOUNT}`,
    `QueueEndpoint=http://${host}:${ports.queue}/${AZURITE_ACCOUNT}`,
    `TableEndpoint=http://${host}:${ports.table}/${AZURITE_ACCOUNT}`,
  ].join(';') + ';';
}

function checkPort(name: string, value: number | undefined): string {
  const port = value ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startAzurite: ports.${name} must be an integer from 0 (free port) to 65535, got ${String(value)}`);
  }
  return String(port);
}

/** Starts Azurite (blob, queue and table). Free loopback ports and in-memory storage unless told otherwise. */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<RunningAzurite> {
  const timeoutMs = options.timeoutMs ?? 30000;
  const host = options.host ?? '127.0.0.1';
  const ports = {
    blob: checkPort('blob', options.ports?.blob),
    queue: checkPort('queue', options.ports?.queue),
    table: checkPort('table', options.ports?.table),
  };
  const storage: string[] = [];
  if (options.location) {
    const dir = path.resolve(options.location);
    fs.mkdirSync(dir, { recursive: true });
    storage.push('--location', dir);
  } else {
    storage.push('--inMemoryPersistence');
  }
  const bin = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      bin,
      ...storage,
      ...(options.accessLog ? [] : ['--silent']),
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--blobHost', host, '--blobPort', ports.blob,
      '--queueHost', host, '--queuePort', ports.queue,
      '--tableHost', host, '--tablePort', ports.table,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Never leave the emulator running after this process ends (kill is synchronous, so it works in 'exit').
  const killOnExit = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const found: Partial<AzuritePorts> = {};
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const m of output.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/[^:\s]+:(\d+)/g)) {
      found[m[1]!.toLowerCase() as keyof AzuritePorts] = Number(m[2]);
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`Azurite did not start within ${timeoutMs} ms. Output:\n${output}`));
      }, timeoutMs);
      const check = (chunk: Buffer) => {
        onData(chunk);
        if (found.blob && found.queue && found.table) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(
          `Azurite exited with code ${code} before it started` +
            (options.ports ? ' (is one of the requested ports already in use? pass 0 for a free port)' : '') +
            `. Output:\n${output}`,
        ));
      });
    });
  } catch (err) {
    process.removeListener('exit', killOnExit);
    throw err;
  }
  child.removeAllListeners('exit');
  child.stdout!.removeAllListeners('data');
  child.stderr!.removeAllListeners('data');
  // Keep draining the pipes so Azurite never blocks on a full pipe; forward lines if asked.
  const forward = (chunk: Buffer) => {
    if (!options.onOutput) return;
    for (const line of chunk.toString().split(/\r?\n/)) if (line.trim()) options.onOutput(line);
  };
  child.stdout!.on('data', forward);
  child.stderr!.on('data', forward);
  if (options.unref) {
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
  }

  const p = found as AzuritePorts;
  return {
    connectionString: connectionStringFor(p, host === '0.0.0.0' ? '127.0.0.1' : host),
    ports: p,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

let privateInstance: Promise<RunningAzurite> | undefined;

/**
 * The storage connection string for a test: the suite's shared Azurite when the runner started
 * one (MTC_TEST_STORAGE), otherwise a private instance for this process that stops when the
 * process exits.
 */
export async function testStorage(): Promise<string> {
  const shared = process.env.MTC_TEST_STORAGE;
  if (shared) return shared;
  privateInstance ??= startAzurite({ unref: true });
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
