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
import { processPageJob, type PageOutcome, type WorkerDeps } from '../../shared/worker/page-worker';
import { handlePoisonMessage } from '../../shared/worker/poison';
import { createDestination } from '../../shared/destinations';
import { DefaultSecretSource } from '../../shared/auth/secrets';
import { TenantBudget } from '../../shared/budget';
import { parseConfig } from '../../shared/config/load';
import type { CollectorConfig } from '../../shared/config/types';
import { testStorage, uniqueName } from './azurite';

export interface Harness {
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
}

export async function createHarness(opts: { doc: unknown; env: NodeJS.ProcessEnv; startAt: number; extraCa?: string; budgetLimit?: number }): Promise<Harness> {
  const cs = await testStorage();
  const env: NodeJS.ProcessEnv = { ...opts.env, JobsStorage: cs };
  const storage = storageFromEnvironment(env);
  const prefix = uniqueName('h');
  const ledger = new Ledger(storage, prefix);
  const queueName = uniqueName('q');
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
    destinations: new Map(config.destinations.map((d) => [d.id, createDestination(d, secrets)])),
    spill: storage.container(`${prefix}spill`),
    seen: storage.container(`${prefix}seen`),
    outboxStaleMs: 120_000,
    configHashOf: sourceConfigHash,
    clientsFor(source) {
      const c = clients.get(source.id) ?? createSourceClients(source, secrets, clock);
      clients.set(source.id, c);
      return c;
    },
  };
  const outcomes: Record<string, number> = {};
  const q = storage.queue(queueName);

  return {
    clock, get config() { return config; }, env, ledger, storage, queue, log, telemetry, budget, deps, outcomes,
    async plan(sourceId) {
      const source = config.sources.find((s) => !sourceId || s.id === sourceId)!;
      return (await planSource(deps, source)).outcome;
    },
    async drain(o = {}) {
      let jobs = 0;
      for (let round = 0; round < 10_000; round++) {
        const r = await q.receiveMessages({ numberOfMessages: 16, visibilityTimeout: 60 });
        if (!r.receivedMessageItems.length) {
          const props = await q.getProperties();
          if (!props.approximateMessagesCount) return;
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        let progressed = false;
        let earliest = Number.POSITIVE_INFINITY;
        for (const m of r.receivedMessageItems) {
          const text = Buffer.from(m.messageText, 'base64').toString('utf8');
          if (o.maxDequeue && m.dequeueCount > o.maxDequeue) {
            await handlePoisonMessage({ ledger, storage, clock, log, telemetry }, text, m.messageId);
            await q.deleteMessage(m.messageId, m.popReceipt);
            progressed = true;
            continue;
          }
          const job = decodeJob(text);
          const res = await processPageJob(deps, job, { messageId: m.messageId, dequeueCount: m.dequeueCount });
          outcomes[res.outcome] = (outcomes[res.outcome] ?? 0) + 1;
          await q.deleteMessage(m.messageId, m.popReceipt);
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
