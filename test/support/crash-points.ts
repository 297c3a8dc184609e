/**
 * Crash at every step: a fault hook around every storage call (tables, queues, blobs on Azurite)
 * and network call (the API's page GET, each destination batch) that one harness "process" makes.
 *
 * Each call is labelled by its call site: the operation and the first collector function on the
 * stack outside the storage adapters (for example `updateEntity <- commit (page-worker)`). A first
 * run records every site; then, for each site in turn, a run is killed there, once BEFORE the call
 * takes effect and once right AFTER it took effect. A killed process makes no further call: every
 * later call of that process throws, as after a SIGKILL, and nothing in memory survives.
 *
 * The window the architecture allows for duplicates (a destination acknowledged a batch, the
 * process died before the ledger recorded it) is tracked exactly: the rows of batches acknowledged
 * and not yet recorded when the process died are the only copies the invariants excuse.
 */
import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import type { ContainerClient } from '@azure/storage-blob';
import type { StorageClients } from '../../shared/state/storage';
import type { Destination } from '../../shared/destinations/destination';
import type { SourceClients } from '../../shared/worker/page-worker';
import { isDetailEvent, rowKey } from '../../shared/model/row';
import type { HarnessInstrument } from './worker-harness';

export class CrashError extends Error {
  override readonly name = 'CrashError';
  constructor(readonly site: string) {
    super(`process killed at ${site}`);
  }
}

export type CrashMode = 'before' | 'after';

const TABLE_OPS = new Set(['getEntity', 'createEntity', 'updateEntity', 'upsertEntity', 'deleteEntity', 'submitTransaction', 'createTable']);
const QUEUE_OPS = new Set(['sendMessage', 'receiveMessages', 'deleteMessage', 'peekMessages', 'getProperties', 'createIfNotExists']);
const CONTAINER_OPS = new Set(['createIfNotExists', 'deleteBlob']);
const BLOB_OPS = new Set(['upload', 'uploadData', 'downloadToBuffer', 'download', 'deleteIfExists', 'delete', 'exists', 'getProperties']);
/** Adapters whose callers name the site (the operation alone says little). */
const ADAPTERS = /[\\/](state[\\/](ledger|storage|runs)|worker[\\/]page-store|settle[\\/]seen-store|delivery[\\/]progress|details[\\/]store)\.js$/;

/** The collector function that made the call: the first frame in dist/shared outside the adapters (and `more`). */
function callSite(op: string, more?: RegExp): string | undefined {
  const stack = new Error().stack?.split('\n').slice(2) ?? [];
  for (const line of stack) {
    const m = /at (?:async )?([\w.<>$]+) \((.*[\\/]dist[\\/]shared[\\/](.*?)\.js):\d+:\d+\)/.exec(line);
    if (!m) continue;
    if (ADAPTERS.test(`/${m[3]}.js`) || more?.test(`/${m[3]}.js`) || m[2]!.includes('node_modules')) continue;
    const fn = m[1]!.replace(/^(HeldClaim|Ledger|TenantBudget|JobQueue|DrainLease)\./, '$1.');
    return `${op} <- ${fn} (${m[3]})`;
  }
  return undefined;
}

/** One process's switch: records the sites it passes and dies at the armed one. */
export class CrashSwitch {
  readonly sites = new Map<string, number>();
  dead = false;
  killedAt: string | undefined;
  /**
   * Rows acknowledged by a destination and not yet recorded in the ledger, per send in flight
   * (keyed `<destination>~<n>`: a page batch's entries send to the same destination at once).
   */
  readonly unrecorded = new Map<string, string[]>();
  private sends = 0;
  /** The acknowledged, unrecorded rows of one destination's sends. */
  unrecordedFor(destination: string): string[] {
    return [...this.unrecorded].filter(([k]) => k.startsWith(`${destination}~`)).flatMap(([, v]) => v);
  }
  /**
   * `opts.adapters`: more modules whose callers name the site (the detail crash test names queue
   * sends and budget calls by the detail code that makes them).
   */
  constructor(readonly armed?: { site: string; mode: CrashMode; /** Which call at the site dies (default the first). */ hit?: number }, private readonly opts: { adapters?: RegExp } = {}) {}

  async call<T>(op: string, run: () => Promise<T>): Promise<T> {
    if (this.dead) throw new CrashError(this.killedAt ?? op);
    const site = callSite(op, this.opts.adapters);
    if (site === undefined) return run(); // the test's own reads, not the collector's
    this.sites.set(site, (this.sites.get(site) ?? 0) + 1);
    const hit = this.armed && this.armed.site === site && this.sites.get(site) === (this.armed.hit ?? 1);
    if (hit && this.armed!.mode === 'before') this.kill(site);
    let result: T;
    try {
      result = await run();
    } catch (err) {
      // A call that failed (a 404, a lost race) still took place: 'after' dies right after it.
      if (hit && this.armed!.mode === 'after') this.kill(site);
      throw err;
    }
    if (this.dead) throw new CrashError(this.killedAt!);
    if (hit && this.armed!.mode === 'after') this.kill(site);
    return result;
  }

  private kill(site: string): never {
    this.dead = true;
    this.killedAt = site;
    throw new CrashError(site);
  }

  instrument(tenantId: string): HarnessInstrument {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the proxies below call back into this switch
    const sw = this;
    const wrap = <T extends object>(target: T, ops: Set<string>, kind: string, extra?: (prop: string, value: unknown) => unknown): T =>
      new Proxy(target, {
        get(t, prop, receiver) {
          const value = Reflect.get(t, prop, receiver) as unknown;
          if (typeof prop !== 'string' || typeof value !== 'function') return value;
          if (extra) {
            const replaced = extra(prop, value);
            if (replaced !== undefined) return replaced;
          }
          if (prop === 'listEntities' || prop === 'listBlobsFlat') {
            return (...args: unknown[]) => {
              const inner = (value as (...a: unknown[]) => AsyncIterable<unknown>).apply(t, args);
              return (async function* () {
                await sw.call(`${kind}.${prop}`, async () => undefined);
                for await (const item of inner) {
                  if (sw.dead) throw new CrashError(sw.killedAt!);
                  yield item;
                }
              })();
            };
          }
          if (!ops.has(prop)) return value;
          return (...args: unknown[]) => sw.call(`${kind}.${prop}`, () => (value as (...a: unknown[]) => Promise<unknown>).apply(t, args));
        },
      });
    return {
      storage(s: StorageClients): StorageClients {
        return {
          ...s,
          table: (name) => wrap(s.table(name) as TableClient, TABLE_OPS, 'table'),
          queue: (name) => wrap(s.queue(name) as QueueClient, QUEUE_OPS, 'queue'),
          container: (name) => wrap(s.container(name) as ContainerClient, CONTAINER_OPS, 'blob', (prop, value) => {
            if (prop !== 'getBlockBlobClient' && prop !== 'getBlobClient') return undefined;
            return (...args: unknown[]) => wrap((value as (...a: unknown[]) => object).apply(s.container(name), args), BLOB_OPS, 'blob');
          }),
          ensure: s.ensure.bind(s),
        } as StorageClients;
      },
      destination(id: string, d: Destination): Destination {
        return new Proxy(d, {
          get(t, prop, receiver) {
            const value = Reflect.get(t, prop, receiver) as unknown;
            if (prop !== 'send' || typeof value !== 'function') return value;
            const send = value as Destination['send'];
            return (events: Parameters<Destination['send']>[0], ctx: Parameters<Destination['send']>[1]) => {
              let recorded = 0;
              const key = `${id}~${++sw.sends}`;
              // Detail events (detail enrichment) are their own sites: a run can die in their delivery alone.
              const kind = events.some(isDetailEvent) ? ' detail' : '';
              return sw.call(`destination.send(${id})${kind}`, () => send.call(t, events, {
                ...ctx,
                onProgress: async (deliveredSoFar: number, bytes?: number) => {
                  // The batch is acknowledged: until the ledger records it, its rows may come again.
                  // Each event's own tenant (a page batch sends several sources' pages through one process).
                  const acked = events.slice(recorded, deliveredSoFar).map((e) => rowKey(e.tenantId || tenantId, e.row));
                  sw.unrecorded.set(key, acked);
                  await sw.call(`destination.ack(${id})${kind}`, async () => undefined);
                  await ctx.onProgress?.(deliveredSoFar, bytes);
                  sw.unrecorded.delete(key);
                  recorded = deliveredSoFar;
                },
              }));
            };
          },
        });
      },
      clients(c: SourceClients): SourceClients {
        return {
          ...c,
          api: new Proxy(c.api, {
            get(t, prop, receiver) {
              const value = Reflect.get(t, prop, receiver) as unknown;
              if ((prop !== 'fetchPage' && prop !== 'fetchDetails') || typeof value !== 'function') return value;
              return (...args: unknown[]) => sw.call(`api.${prop}`, () => (value as (...a: unknown[]) => Promise<unknown>).apply(t, args));
            },
          }),
        };
      },
    };
  }
}
