/**
 * A small, deterministic stand-in for the Functions host around the real planner, page worker and
 * poison handler: real Azurite queues, tables and blobs, the real simulator, a ManualClock. `drain`
 * receives page jobs and runs them until the queue is empty, moving the clock forward to the
 * earliest due job when everything left is waiting (retry backoff, budget waits).
 */
import { createSourceClients } from '../../shared/diagnostics/clients';
import { sourceConfigHash } from '../../shared/runtime';
import { MemoryLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment, type StorageClients } from '../../shared/state/storage';
import { JobQueue, decodeJob } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource } from '../../shared/planning/planner';
import { runDuePreflights } from '../../shared/planning/preflight-step';
import { canPreflight } from '../../shared/diagnostics/preflight';
import { processPageJob, type PageOutcome, type SourceClients, type WorkerDeps } from '../../shared/worker/page-worker';
import type { Destination } from '../../shared/destinations/destination';
import { handlePoisonMessage } from '../../shared/worker/poison';
import { createDestination } from '../../shared/destinations';
import { DefaultSecretSource } from '../../shared/auth/secrets';
import { TenantBudget } from '../../shared/budget';
import { parseConfig } from '../../shared/config/load';
import type { CollectorConfig } from '../../shared/config/types';
import { testStorage, uniqueName } from './azurite';

export interface Harness {
  prefix: string;
  queueName: string;
  clock: ManualClock;
  config: CollectorConfig;
  env: NodeJS.ProcessEnv;
  ledger: Ledger;
  storage: StorageClients;
  queue: JobQueue;
  log: MemoryLogger;
  telemetry: MemoryTelemetry;
  budget: TenantBudget;
  deps: WorkerDeps & { outboxStaleMs: number };
  outcomes: Record<string, number>;
  plan(sourceId?: string): Promise<string>;
  drain(opts?: { maxJobs?: number; advancePerJobMs?: number; maxDequeue?: number }): Promise<void>;
  /** Replaces the configuration (as a redeploy with a changed config would). */
  reconfigure(doc: unknown): void;
  /**
   * Makes the jobs this harness received and did not finish visible again at once, as the queue
   * does when a dead process's message lock expires (the crash tests call it after a kill).
   */
  releaseInFlight(): Promise<void>;
}

/**
 * Hooks around every storage and network call of one harness ("process"): the crash-at-every-step
 * test (test/support/crash-points.ts) uses them to kill a run at any call.
 */
export interface HarnessInstrument {
  storage(s: StorageClients): StorageClients;
  destination(id: string, d: Destination): Destination;
  clients(c: SourceClients): SourceClients;
}

export interface HarnessOptions {
  doc: unknown;
  env: NodeJS.ProcessEnv;
  startAt: number;
  extraCa?: string;
  budgetLimit?: number;
  instrument?: HarnessInstrument;
  /** Attach to the state of an earlier harness (a restarted process): its table prefix and queue. */
  attach?: { prefix: string; queueName: string };
  /** Visibility timeout (real seconds) of received jobs; default 60. */
  visibilitySec?: number;
}

export async function createHarness(opts: HarnessOptions): Promise<Harness> {
  const cs = await testStorage();
  const env: NodeJS.ProcessEnv = { ...opts.env, JobsStorage: cs };
  const raw = storageFromEnvironment(env);
  const storage = opts.instrument ? opts.instrument.storage(raw) : raw;
  const prefix = opts.attach?.prefix ?? uniqueName('h');
  const ledger = new Ledger(storage, prefix);
  const queueName = opts.attach?.queueName ?? uniqueName('q');
  const budgetTable = `${prefix}budget`;
  await storage.ensure([...ledger.tableNames(), budgetTable], [queueName], [`${prefix}spill`, `${prefix}seen`]);
  const clock = new ManualClock(opts.startAt);
  const queue = new JobQueue(storage.queue(queueName), clock);
  const log = new MemoryLogger();
  const telemetry = new MemoryTelemetry();
  const secrets = new DefaultSecretSource(env);
  const budget = new TenantBudget(storage.table(budgetTable), clock, { limit: opts.budgetLimit ?? 100 });
  let config = parseConfig(opts.doc, { env }).config;
  const clients = new Map<string, ReturnType<WorkerDeps['clientsFor']>>();
  const deps: WorkerDeps & { outboxStaleMs: number } = {
    get config() { return config; },
    ledger, queue, clock, log, telemetry, budget,
    destinations: new Map(config.destinations.map((d) => {
      const destination = createDestination(d, secrets);
      return [d.id, opts.instrument ? opts.instrument.destination(d.id, destination) : destination];
    })),
    spill: storage.container(`${prefix}spill`),
    seen: storage.container(`${prefix}seen`),
    outboxStaleMs: 120_000,
    configHashOf: sourceConfigHash,
    clientsFor(source) {
      const c = clients.get(source.id) ?? (opts.instrument ? opts.instrument.clients(createSourceClients(source, secrets, clock)) : createSourceClients(source, secrets, clock));
      clients.set(source.id, c);
      return c;
    },
  };
  const outcomes: Record<string, number> = {};
  // The host's own receive and delete calls are not the collector's: they bypass the instrument.
  const q = raw.queue(queueName);
  const inFlight = new Map<string, string>();

  return {
    prefix, queueName, clock, get config() { return config; }, env, ledger, storage, queue, log, telemetry, budget, deps, outcomes,
    async plan(sourceId) {
      const source = config.sources.find((s) => !sourceId || s.id === sourceId)!;
      const outcome = (await planSource(deps, source)).outcome;
      // As functions/plan.ts: the preflight step runs beside the planning (here after it, so its order is fixed).
      if (canPreflight(deps)) await runDuePreflights(deps, [source]);
      return outcome;
    },
    async drain(o = {}) {
      let jobs = 0;
      for (let round = 0; round < 10_000; round++) {
        const r = await q.receiveMessages({ numberOfMessages: 16, visibilityTimeout: opts.visibilitySec ?? 60 });
        if (!r.receivedMessageItems.length) {
          const props = await q.getProperties();
          if (!props.approximateMessagesCount) return;
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        let progressed = false;
        let earliest = Number.POSITIVE_INFINITY;
        for (const m of r.receivedMessageItems) inFlight.set(m.messageId, m.popReceipt);
        for (const m of r.receivedMessageItems) {
          const text = Buffer.from(m.messageText, 'base64').toString('utf8');
          if (o.maxDequeue && m.dequeueCount > o.maxDequeue) {
            await handlePoisonMessage({ ledger, storage, clock, log, telemetry }, text, m.messageId);
            await q.deleteMessage(m.messageId, m.popReceipt);
            inFlight.delete(m.messageId);
            progressed = true;
            continue;
          }
          const job = decodeJob(text);
          const res = await processPageJob(deps, job, { messageId: m.messageId, dequeueCount: m.dequeueCount });
          outcomes[res.outcome] = (outcomes[res.outcome] ?? 0) + 1;
          await q.deleteMessage(m.messageId, m.popReceipt);
          inFlight.delete(m.messageId);
          if (res.outcome === 'deferred' || res.outcome === 'retry-scheduled') {
            earliest = Math.min(earliest, job.notBefore ?? clock.now());
          } else {
            progressed = true;
          }
          if (res.outcome === 'retry-scheduled' || res.outcome === 'deferred') {
            // The re-sent job carries notBefore; find it on the next round.
          }
          jobs++;
          if (o.advancePerJobMs) clock.advance(o.advancePerJobMs);
          if (o.maxJobs && jobs >= o.maxJobs) return;
        }
        if (!progressed) {
          // Everything waits: jump to when the next job is due (peek the queue for notBefore).
          const peek = await q.peekMessages({ numberOfMessages: 32 });
          const due = peek.peekedMessageItems.map((p) => decodeJob(Buffer.from(p.messageText, 'base64').toString('utf8')).notBefore ?? clock.now());
          const next = Math.min(earliest, ...due);
          if (next > clock.now()) clock.set(next);
          else clock.advance(1000);
        }
      }
      throw new Error('drain did not finish');
    },
    async releaseInFlight() {
      for (const [id, receipt] of inFlight) await q.updateMessage(id, receipt, undefined, 0).catch(() => undefined);
      inFlight.clear();
    },
    reconfigure(doc) {
      config = parseConfig(doc, { env }).config;
      clients.clear();
    },
  } satisfies Harness;
}

/** The outcome counts as a string, for assertion messages. */
export function outcomesText(h: Harness): string {
  return JSON.stringify(h.outcomes);
}

export type { PageOutcome };
