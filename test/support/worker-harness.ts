/**
 * A small, deterministic stand-in for the Functions host around the real planner, page worker and
 * poison handler: real Azurite queues, tables and blobs, the real simulator, a ManualClock. `drain`
 * receives page jobs and runs them until the queue is empty, moving the clock forward to the
 * earliest due job when everything left is waiting (retry backoff, budget waits). A job received
 * before its `notBefore` is hidden until the clock reaches it (as its visibility delay hides it in
 * Azure), so a backlog of delayed jobs (detail jobs waiting for budget) costs one receive each.
 */
import { createRuntime } from '../../shared/runtime';
import { MemoryLogger } from '../../shared/log';
import type { Ledger } from '../../shared/state/ledger';
import { MemoryTelemetry } from '../../shared/telemetry';
import { storageFromEnvironment, type StorageClients } from '../../shared/state/storage';
import { decodeJob, type JobQueue, type QueueJob } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { planSource } from '../../shared/planning/planner';
import { runDuePreflights } from '../../shared/planning/preflight-step';
import { canPreflight } from '../../shared/diagnostics/preflight';
import { type PageOutcome, type PageResultSummary, type SourceClients, type WorkerDeps } from '../../shared/worker/page-worker';
import { outcomesOf, processJob } from '../../shared/worker/jobs';
import { planSources, planSourceTick } from '../../shared/planning/plan-tick';
import type { Destination } from '../../shared/destinations/destination';
import { handlePoisonMessage } from '../../shared/worker/poison';
import type { TenantBudget } from '../../shared/budget';
import { parseConfig } from '../../shared/components';
import type { CollectorConfig } from '../../shared/components';
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
  /**
   * A timer run as functions/plan.ts makes it: every source at once (planSources, with page
   * batches of at most `batchMax`, default the MTC_PAGE_BATCH_MAX setting), then the preflight
   * step. Returns each source's outcome and the batches sent.
   */
  tick(opts?: { batchMax?: number }): Promise<{ outcomes: Record<string, string>; batches: { messages: number; jobs: number } }>;
  /**
   * Runs jobs until the queue is empty. With `untilMs`, it stops instead of moving the clock past
   * that instant (the clock is then at `untilMs`): a test can run the planner every minute, as the timer does.
   */
  drain(opts?: { maxJobs?: number; advancePerJobMs?: number; maxDequeue?: number; untilMs?: number }): Promise<void>;
  /**
   * A timeline: the planner runs every `planEveryMs` of clock time (every source), and every job runs
   * when it is due (its notBefore); the clock moves to the next planner run or due job when nothing
   * is due now. `afterJob` sees each job and its result (e.g. to check what receivers hold after
   * every page); `beforePlan` runs before each planner run (e.g. to bring a destination back).
   */
  runFor(durationMs: number, opts?: { planEveryMs?: number; afterJob?: (job: QueueJob, result: PageResultSummary) => Promise<void> | void; beforePlan?: (now: number) => Promise<void> | void }): Promise<void>;
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
  const prefix = opts.attach?.prefix ?? uniqueName('h');
  const queueName = opts.attach?.queueName ?? uniqueName('q');
  const env: NodeJS.ProcessEnv = {
    ...opts.env, JobsStorage: cs, MTC_TABLE_PREFIX: prefix, MTC_PAGE_QUEUE: queueName, MTC_BUDGET_LIMIT: String(opts.budgetLimit ?? 100),
  };
  const raw = storageFromEnvironment(env);
  const clock = new ManualClock(opts.startAt);
  const log = new MemoryLogger();
  const telemetry = new MemoryTelemetry();
  const rt = await createRuntime({
    env, clock, log, telemetry,
    config: parseConfig(opts.doc, { env }).config,
    storage: opts.instrument ? opts.instrument.storage(raw) : raw,
    ...(opts.instrument ? { wrap: { destination: opts.instrument.destination, clients: opts.instrument.clients } } : {}),
  });
  const { ledger, storage, queue, budget } = rt;
  const deps: WorkerDeps & { outboxStaleMs: number } = rt;
  const outcomes: Record<string, number> = {};
  // The host's own receive and delete calls are not the collector's: they bypass the instrument.
  const q = raw.queue(queueName);
  const inFlight = new Map<string, string>();
  /** Received jobs not yet due, hidden until their notBefore (message id -> pop receipt, due time). */
  const sleeping = new Map<string, { popReceipt: string; due: number }>();

  return {
    prefix, queueName, clock, get config() { return rt.config; }, env, ledger, storage, queue, log, telemetry, budget, deps, outcomes,
    async plan(sourceId) {
      const source = rt.config.sources.find((s) => !sourceId || s.id === sourceId)!;
      const outcome = (await planSource(deps, source)).outcome;
      // As functions/plan.ts: the preflight step runs beside the planning (here after it, so its order is fixed).
      if (canPreflight(deps)) await runDuePreflights(deps, [source]);
      return outcome;
    },
    async tick(o = {}) {
      const out: Record<string, string> = {};
      const gaugeDeps = { ledger, clock, telemetry, budget };
      const batches = await planSources(deps, rt.config.sources, { ...rt.settings, pageBatchMax: o.batchMax ?? rt.settings.pageBatchMax }, async (d, source) => {
        const r = await planSourceTick(d, gaugeDeps, source);
        out[source.id] = r.planError !== undefined ? `error: ${(r.planError as Error).message}` : r.outcome!.outcome;
      });
      if (canPreflight(deps)) await runDuePreflights(deps, rt.config.sources);
      return { outcomes: out, batches };
    },
    async drain(o = {}) {
      let jobs = 0;
      for (let round = 0; round < 100_000; round++) {
        // Jobs sent with a delay sleep invisible until the clock reaches them (the visibility delay
        // Azure gives them): a backlog of delayed jobs is not received again at every clock step.
        for (const [id, s] of sleeping) {
          if (s.due > clock.now()) continue;
          sleeping.delete(id);
          await q.updateMessage(id, s.popReceipt, undefined, 0).catch(() => undefined);
        }
        const r = await q.receiveMessages({ numberOfMessages: 16, visibilityTimeout: opts.visibilitySec ?? 60 });
        if (!r.receivedMessageItems.length) {
          if (sleeping.size) {
            const due = Math.min(...[...sleeping.values()].map((s) => s.due));
            if (o.untilMs !== undefined && due > o.untilMs) {
              if (o.untilMs > clock.now()) clock.set(o.untilMs);
              return;
            }
            clock.set(Math.max(clock.now(), due));
            continue;
          }
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
          if (job.notBefore !== undefined && job.notBefore > clock.now()) {
            const u = await q.updateMessage(m.messageId, m.popReceipt, undefined, 7 * 24 * 3600 - 60);
            inFlight.delete(m.messageId);
            sleeping.set(m.messageId, { popReceipt: u.popReceipt!, due: job.notBefore });
            progressed = true;
            continue;
          }
          const res = await processJob(deps, job, { messageId: m.messageId, dequeueCount: m.dequeueCount });
          for (const r of outcomesOf(res)) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
          await q.deleteMessage(m.messageId, m.popReceipt);
          inFlight.delete(m.messageId);
          if (res.outcome === 'deferred' || res.outcome === 'retry-scheduled') {
            earliest = Math.min(earliest, job.notBefore ?? clock.now());
          } else {
            progressed = true;
          }
          jobs++;
          if (process.env.MTC_HARNESS_VERBOSE && jobs % 200 === 0) console.log(`harness: ${jobs} jobs, clock ${new Date(clock.now()).toISOString()}, ${sleeping.size} sleeping, ${JSON.stringify(outcomes)}`);
          if (o.advancePerJobMs) clock.advance(o.advancePerJobMs);
          if (o.maxJobs && jobs >= o.maxJobs) return;
        }
        if (!progressed) {
          // Everything waits: jump to when the next job is due (peek the queue for notBefore).
          const peek = await q.peekMessages({ numberOfMessages: 32 });
          const due = peek.peekedMessageItems.map((p) => decodeJob(Buffer.from(p.messageText, 'base64').toString('utf8')).notBefore ?? clock.now());
          const next = Math.min(earliest, ...due, ...[...sleeping.values()].map((x) => x.due));
          if (o.untilMs !== undefined && next > o.untilMs) {
            if (o.untilMs > clock.now()) clock.set(o.untilMs);
            return;
          }
          if (next > clock.now()) clock.set(next);
          else clock.advance(1000);
        }
      }
      throw new Error('drain did not finish');
    },
    async runFor(durationMs, ro = {}) {
      const end = clock.now() + durationMs;
      const every = ro.planEveryMs ?? 60_000;
      let nextPlan = clock.now();
      while (clock.now() < end) {
        if (clock.now() >= nextPlan) {
          await ro.beforePlan?.(clock.now());
          for (const source of rt.config.sources) {
            await planSource(deps, source);
            if (canPreflight(deps)) await runDuePreflights(deps, [source]);
          }
          nextPlan += every;
        }
        // Every job due now, until a round finds none; remember when the others are due.
        let earliest = Number.POSITIVE_INFINITY;
        const seenNotDue = new Set<string>();
        for (let round = 0; round < 100_000; round++) {
          const r = await q.receiveMessages({ numberOfMessages: 16, visibilityTimeout: opts.visibilitySec ?? 60 });
          if (!r.receivedMessageItems.length) break;
          let ran = 0, fresh = 0;
          for (const m of r.receivedMessageItems) {
            const text = Buffer.from(m.messageText, 'base64').toString('utf8');
            const job = decodeJob(text);
            if (job.notBefore !== undefined && job.notBefore > clock.now()) {
              earliest = Math.min(earliest, job.notBefore);
              if (!seenNotDue.has(m.messageText)) fresh++;
              seenNotDue.add(m.messageText);
              await q.deleteMessage(m.messageId, m.popReceipt);
              await q.sendMessage(m.messageText);
              continue;
            }
            const res = await processJob(deps, job, { messageId: m.messageId, dequeueCount: m.dequeueCount });
            for (const r of outcomesOf(res)) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
            await q.deleteMessage(m.messageId, m.popReceipt);
            ran++;
            await ro.afterJob?.(job, res);
          }
          // Only jobs not yet due, all of them seen before: nothing more is due now.
          if (!ran && !fresh) break;
        }
        const next = Math.min(nextPlan, earliest, end);
        if (next > clock.now()) clock.set(next);
      }
    },
    async releaseInFlight() {
      for (const [id, receipt] of inFlight) await q.updateMessage(id, receipt, undefined, 0).catch(() => undefined);
      inFlight.clear();
      // Delayed jobs stay in the queue when a process dies: the next process sees them (and sleeps them again).
      for (const [id, s] of sleeping) await q.updateMessage(id, s.popReceipt, undefined, 0).catch(() => undefined);
      sleeping.clear();
    },
    reconfigure(doc) {
      rt.reconfigure(parseConfig(doc, { env }).config);
    },
  } satisfies Harness;
}

/** The outcome counts as a string, for assertion messages. */
export function outcomesText(h: Harness): string {
  return JSON.stringify(h.outcomes);
}

export type { PageOutcome };
