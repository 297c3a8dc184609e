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
 * and not yet recorded when the process died are the only copies the invariants excuse. A batch is
 * recorded by a write its progress callback makes (a delivery mark, a backlog's progress), or, when
 * the callback writes nothing (a page's last batch to its last destination, which the commit
 * records: shared/worker/stages/deliver.ts), by the next write of its slice's row that starts after
 * the acknowledgement and succeeds.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import type { ContainerClient } from '@azure/storage-blob';
import type { StorageClients } from '../../shared/state/storage';
import type { Destination } from '../../shared/destinations/destination';
import type { SourceClients } from '../../shared/worker/page-worker';
import { isDetailEvent, rowKey } from '../../shared/model/row';
import { createHarness, type Harness, type HarnessInstrument } from './worker-harness';

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
/** Storage calls that write (a progress callback that made one recorded its batch). */
const WRITE_OPS = new Set(['createEntity', 'updateEntity', 'upsertEntity', 'deleteEntity', 'submitTransaction', 'sendMessage', 'deleteMessage', 'upload', 'uploadData', 'deleteIfExists', 'delete', 'deleteBlob']);

/** The progress callback a storage call is made in (its writes are counted for it). */
interface InProgress {
  writes: number;
}
const progressContext = new AsyncLocalStorage<InProgress>();
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
  /** Acknowledged batches whose callback wrote nothing: recorded by their slice row's next write. */
  private readonly awaitingRow = new Map<string, { sliceId: string; ack: number }>();
  /** Acknowledgements so far (a row write that starts later records them). */
  private acks = 0;
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
    const inProgress = progressContext.getStore();
    try {
      result = await run();
      if (inProgress && WRITE_OPS.has(op.replace(/^\w+\./, ''))) inProgress.writes++;
    } catch (err) {
      // A call that failed (a 404, a lost race) still took place: 'after' dies right after it.
      if (hit && this.armed!.mode === 'after') this.kill(site);
      throw err;
    }
    if (this.dead) throw new CrashError(this.killedAt!);
    if (hit && this.armed!.mode === 'after') this.kill(site);
    return result;
  }

  /** A write of slice `sliceId`'s row that started after acknowledgement `startedAt` succeeded: it records their batches. */
  private rowWritten(sliceId: string, startedAt: number): void {
    for (const [key, w] of this.awaitingRow) {
      if (w.sliceId === sliceId && w.ack <= startedAt) {
        this.awaitingRow.delete(key);
        this.unrecorded.delete(key);
      }
    }
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
          table: (name) => wrap(s.table(name) as TableClient, TABLE_OPS, 'table', name.endsWith('slices') ? (prop, value) => {
            if (prop !== 'updateEntity') return undefined;
            return (...args: unknown[]) => {
              const startedAt = sw.acks;
              const table = s.table(name);
              return sw.call('table.updateEntity', () => (value as (...a: unknown[]) => Promise<unknown>).apply(table, args)).then((r) => {
                sw.rowWritten(String((args[0] as { rowKey?: unknown }).rowKey), startedAt);
                return r;
              });
            };
          } : undefined),
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
                  // A batch before it still waiting for its row's write stays unrecorded too.
                  sw.unrecorded.set(key, sw.awaitingRow.has(key) ? [...sw.unrecorded.get(key) ?? [], ...acked] : acked);
                  sw.awaitingRow.delete(key);
                  await sw.call(`destination.ack(${id})${kind}`, async () => undefined);
                  const ack = ++sw.acks;
                  const inProgress: InProgress = { writes: 0 };
                  await progressContext.run(inProgress, () => ctx.onProgress?.(deliveredSoFar, bytes));
                  if (inProgress.writes > 0) sw.unrecorded.delete(key);
                  else sw.awaitingRow.set(key, { sliceId: ctx.sliceId, ack });
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

// ---------------------------------------------------------------------------------------------
// The crash matrix the crash tests share: arm each site in turn, run, recover, judge, print.

/** A call site of the reference run and which of its calls dies (1 = the first). */
export interface CrashPoint { site: string; hit: number }

/**
 * The points to arm: each site at its first call and, with `lastHits` where the reference run
 * called it more than once, at its last (after the other callers got that far). `MTC_CRASH_ONLY`
 * narrows the sites to those containing it (debugging one site).
 */
export function crashPoints(reference: CrashSwitch, sites: readonly string[], opts: { lastHits?: boolean } = {}): CrashPoint[] {
  return sites.filter((s) => !process.env.MTC_CRASH_ONLY || s.includes(process.env.MTC_CRASH_ONLY))
    .flatMap((site) => {
      const calls = reference.sites.get(site) ?? 1;
      return [1, ...(opts.lastHits && calls > 1 ? [calls] : [])].map((hit) => ({ site, hit }));
    });
}

export interface CrashRow<V> extends CrashPoint { mode: CrashMode; killed: boolean; v: V }

/** What counts in every verdict: rows lost, repeated beyond the excused, and the excused copies. */
export interface CrashTotals { lost: number; duplicated: number; excused: number }

/**
 * Each point killed before and after its call in a fresh process on fresh state (`start`), the
 * work (`run`) to the kill, a new process that finishes it (`recover`, only when the switch
 * fired), and the verdict with the acknowledged-unrecorded rows excused. The assertions stay
 * with the caller (each test judges its own verdict).
 */
export async function runCrashMatrix<H, V>(m: {
  points: readonly CrashPoint[];
  switchOptions?: { adapters?: RegExp };
  /** Clears what the receivers hold, before each run. */
  reset(): void;
  start(sw: CrashSwitch): Promise<H>;
  run(h: H): Promise<unknown>;
  recover(dead: H): Promise<H>;
  verdict(h: H, excused: Set<string>): Promise<V>;
}): Promise<CrashRow<V>[]> {
  const rows: CrashRow<V>[] = [];
  const once = async (site: string, hit: number, mode: CrashMode): Promise<{ row: CrashRow<V>; reached: number }> => {
    m.reset();
    const sw = new CrashSwitch({ site, mode, hit }, m.switchOptions);
    const h = await m.start(sw);
    try {
      await m.run(h);
    } catch (err) {
      // The kill: a CrashError, or an error made of them (a page batch's BatchEntryFailed). A
      // process is dead once the switch fired, even when a caller swallowed the first CrashError.
      if (!sw.dead) throw err;
    }
    const excused = new Set([...sw.unrecorded.values()].flat());
    const end = sw.dead ? await m.recover(h) : h;
    return { row: { site, hit, mode, killed: sw.dead, v: await m.verdict(end, excused) }, reached: sw.sites.get(site) ?? 0 };
  };
  for (const { site, hit } of m.points) {
    for (const mode of ['before', 'after'] as const) {
      let r = await once(site, hit, mode);
      // A site that callers race on (a compare-and-swap retried on contention) is called a different
      // number of times from run to run: a run that ended before the armed call is run again, armed
      // at the last call that run made (up to 3 times), so the kill still falls at a last call.
      for (let retry = 0; retry < 3 && !r.row.killed && hit > 1 && r.reached >= 1; retry++) r = await once(site, r.reached, mode);
      rows.push(r.row);
    }
  }
  return rows;
}

/** The matrix's summary line (sites, runs, killed, totals) and one line per run (`line`, default the verdict as JSON). */
export function crashReport<V extends CrashTotals>(title: string, rows: readonly CrashRow<V>[], line?: (r: CrashRow<V>, width: number) => string, header?: (width: number) => string): string {
  const sites = new Set(rows.map((r) => r.site));
  const width = Math.max(...[...sites].map((s) => s.length));
  const total = rows.reduce((a, r) => ({ lost: a.lost + r.v.lost, duplicated: a.duplicated + r.v.duplicated, excused: a.excused + r.v.excused }), { lost: 0, duplicated: 0, excused: 0 });
  const lines = rows.map((r) => line ? line(r, width) : `${r.site.padEnd(width)}  #${String(r.hit).padEnd(3)} ${r.mode.padEnd(6)}  ${String(r.killed).padEnd(5)}  ${JSON.stringify(r.v)}`);
  return `${title}: ${sites.size} call sites, ${rows.length} runs (${rows.filter((r) => r.killed).length} killed), lost ${total.lost}, duplicated ${total.duplicated}, (ack window) ${total.excused}\n${[...(header ? [header(width)] : []), ...lines].join('\n')}`;
}

/**
 * After a kill: the dead process's message locks expire, a new process starts on its state three
 * minutes later (claims and outboxes come due) and runs `step`; while `done` says no, up to
 * `retries` times, 31 minutes more (a job lost with the process is re-enqueued by the sweep) and
 * `step` again. `slow` hears of each harness that needed the advance.
 */
export async function restartAfterKill<H extends { releaseInFlight(): Promise<void>; clock: { now(): number; advance(ms: number): void } }>(dead: H, r: {
  start(at: number): Promise<H>;
  step(h: H): Promise<void>;
  done(h: H): Promise<boolean>;
  retries?: number;
  slow?(h: H): void | Promise<void>;
}): Promise<H> {
  await dead.releaseInFlight();
  const h = await r.start(dead.clock.now() + 3 * 60_000);
  await r.step(h);
  for (let i = 0; i < (r.retries ?? 1) && !(await r.done(h)); i++) {
    await r.slow?.(h);
    h.clock.advance(31 * 60_000);
    await r.step(h);
  }
  return h;
}

/**
 * A crash test's "process": a harness on `doc`, its calls through `sw` when given (`tenantId` names
 * the rows it acknowledges), on the state of `attach` when given (a restart), at `startAt`, with
 * 1-second message locks (a dead process's jobs come back soon).
 */
export function crashProcess(o: { doc: unknown; env: NodeJS.ProcessEnv; tenantId: string; sw?: CrashSwitch | undefined; attach?: Pick<Harness, 'prefix' | 'queueName'> | undefined; startAt: number }): Promise<Harness> {
  return createHarness({
    doc: o.doc, env: o.env, startAt: o.startAt, visibilitySec: 1,
    ...(o.sw ? { instrument: o.sw.instrument(o.tenantId) } : {}),
    ...(o.attach ? { attach: { prefix: o.attach.prefix, queueName: o.attach.queueName } } : {}),
  });
}
