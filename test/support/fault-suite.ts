/**
 * The fault-injection suite, seeded and reproducible. The collector runs as a separate process
 * (`node dist/local/cli.js --config … --once`, the same local host as `npm start`) so it can be
 * killed with SIGKILL at random points and restarted; the simulator (with API faults) and the
 * receivers (with destination faults) run in this process. At the end it compares what the
 * receivers hold with the simulator's ground truth and prints a table.
 *
 * Duplicates are classified: a copy whose acknowledgement the receiver dropped on purpose
 * (ack lost), a copy first sent by a process killed right after (the window between a
 * destination's acknowledgement and the ledger write: first copies that arrived from 2 s before a
 * kill until 0.5 s after the killed process exited), and anything else (must be 0).
 * auditKillWindows checks that the window excuses only such copies (test/unit/kill-window.test.ts
 * holds its bounds and its audit; the fault test asserts the audit finds nothing).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, type FaultKind, type FaultRule, type Simulator, type TrafficPatch } from '../../simulator';
import { rowKey } from '../../shared/model/row';
import { Ledger } from '../../shared/state/ledger';
import { storageFromEnvironment } from '../../shared/state/storage';
import { startReceiver, type Receiver, type ReceiverFault } from './receiver';

export interface FaultSuiteOptions {
  storageConnectionString: string;
  seed: number;
  rowsPerDay: number;
  /** Collected range: this many hours back from the first run. */
  hours: number;
  pageSize: number;
  /** Probability per API request of each fault kind (0 disables). */
  apiFaultRate: number;
  /** Probability per delivery request of each destination fault. */
  destinationFaultRate: number;
  /** How many times the collector process is killed before the final run. */
  kills: number;
  /** Longest time a killed run lives (ms); each kill happens at a random point up to this. */
  maxRunBeforeKillMs: number;
  /**
   * Real-data shapes for the simulated tenant (simulator/README.md "Real-data shapes"), e.g.
   * { distributionLists: { perDay: 4 }, rereadChanges: { lateRowFraction: 0.001 } }. Default: none.
   */
  traffic?: TrafficPatch;
  /** Collectors run at once in the final phase (two planners racing). Default 1. */
  concurrentFinalRuns?: number;
  /**
   * The flaky destination answers 503 to everything for this long from the first run's start. When
   * the outage outlasts the kill runs, final runs repeat (one at a time) until it is over.
   */
  destinationOutageMs?: number;
  /**
   * Concurrent overlapping backfills: when the final collectors are up, this many POSTs of
   * mutually overlapping ranges (inside the `backfillHours` before the source's start) go at once
   * to their HTTP APIs, spread over the processes. Exactly one may be admitted (202); the rest must
   * be refused (409). The admitted range joins the expected rows.
   */
  concurrentBackfills?: number;
  /** Hours before the source's start that the backfills cover (default 3). */
  backfillHours?: number;
  /**
   * The source's settle re-reads (config `settle`). Rows that appear late inside an already-read
   * window (traffic.rereadChanges.lateRowFraction) are found only by a later read of that window:
   * required once some response served them, allowed before.
   */
  settle?: { rereads: string[]; bucket: string };
  /** Secrets the logs, status and state are scanned for. */
  log?: (line: string) => void;
  timeoutMs?: number;
}

export interface FaultSuiteResult {
  faults: Record<string, number>;
  expected: number;
  destinations: { id: string; delivered: number; lost: number; unexplainedDuplicates: number; ackLostDuplicates: number; killWindowDuplicates: number; unexpected: number }[];
  /** settledUntil at the end (the source's settle re-reads are done before it). */
  settledUntil: number;
  /** Late rows (rereadChanges) some response served: required (a re-read or a second fetch found them). */
  lateRowsRequired: number;
  /** Late rows no response has served yet (no read of their window after they appeared): allowed, not required. */
  lateRowsNotRead: number;
  /** The answers to the concurrent backfill POSTs, by status (e.g. { 202: 1, 409: 19 }). */
  backfillAnswers: Record<string, number>;
  /** The admitted backfill's range, if one was admitted. */
  backfill?: { runId: string; startMs: number; endMs: number };
  kills: number;
  runs: number;
  parked: number;
  requests: number;
  secretLeaks: string[];
  /** Kill-window audit (auditKillWindows): every reason the excuse of a copy is not sound. Must be []. */
  killWindowViolations: string[];
  /** The kill windows used, for the log. */
  killWindows: KillWindow[];
  table: string;
}

/**
 * The acknowledgement window of a killed run: first copies that arrived from this long before the
 * kill ... */
export const KILL_WINDOW_BEFORE_KILL_MS = 2000;
/** ... until this long after the killed process was seen to exit (its last socket writes may still be read). */
export const KILL_WINDOW_AFTER_EXIT_MS = 500;

export interface RunLifetime { start: number; killedAt?: number; exitedAt?: number }
export interface KillWindow { run: number; from: number; to: number }

/** The kill window of every killed run (run = index in `lifetimes`). */
export function killWindowsOf(lifetimes: readonly RunLifetime[]): KillWindow[] {
  return lifetimes.flatMap((l, run) => (l.killedAt
    ? [{ run, from: l.killedAt - KILL_WINDOW_BEFORE_KILL_MS, to: (l.exitedAt ?? l.killedAt) + KILL_WINDOW_AFTER_EXIT_MS }]
    : []));
}

/** A copy excused by a kill window: the row, when its first copy arrived, when this copy arrived. */
export interface ExcusedCopy { key: string; firstAt: number; at: number }

const API_FAULTS: FaultKind[] = ['429', '500', '503', '504', 'reset', 'html', 'truncated', 'corruptNextLink', 'expiredToken'];
const DEST_FAULTS: ReceiverFault[] = ['error503', 'slow', 'dropBeforeStore', 'dropAfterStore'];

export async function runFaultSuite(o: FaultSuiteOptions): Promise<FaultSuiteResult> {
  const log = o.log ?? (() => {});
  const work = mkdtempSync(path.join(tmpdir(), 'mtc-faults-'));
  const prefix = `f${o.seed}x${Date.now().toString(36)}`.toLowerCase();
  const queue = `${prefix}jobs`;
  const receiverToken = `rcv-token-${o.seed}-${Math.random().toString(36).slice(2)}`;

  // Every kind fires at least once (a rule with count 1 early on), then at the given rate.
  const faults: FaultRule[] = o.apiFaultRate > 0
    ? [
      ...API_FAULTS.map((kind) => ({ kind, probability: 0.3, count: 1, match: { api: 'graph' as const }, ...(kind === '429' ? { retryAfterSec: 2 } : {}) })),
      { kind: 'hang', probability: 0.3, count: 1, match: { api: 'graph' as const } },
      ...API_FAULTS.map((kind) => ({ kind, probability: o.apiFaultRate, match: { api: 'graph' as const }, ...(kind === '429' ? { retryAfterSec: 2 } : {}) })),
    ]
    : [];
  const sim: Simulator = await startSimulator({
    seed: o.seed,
    https: true,
    throttle: { limit: 100_000, windowMs: 300_000 },
    tenants: [{ rowsPerDay: o.rowsPerDay, traffic: { visibilityDelay: { minMs: 0, maxMs: 60_000 }, ...o.traffic } }],
    faults,
  });
  const flaky = await startReceiver();
  const healthy = await startReceiver();
  flaky.setFaults({ seed: o.seed, probabilities: Object.fromEntries(DEST_FAULTS.map((f) => [f, o.destinationFaultRate])), slowMs: 200 });

  const tenant = sim.tenants[0]!;
  const startMs = Math.floor((Date.now() - o.hours * 3600_000) / 3600_000) * 3600_000;
  const config = {
    sources: [{
      id: 'faulty',
      tenantId: tenant.tenantId,
      endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: tenant.clientId, clientSecretRef: 'env:MTC_FAULT_CLIENT_SECRET' },
      start: new Date(startMs).toISOString(),
      collectionDelay: '10m',
      sliceLength: '1h',
      pageSize: o.pageSize,
      requestTimeout: '5s',
      retry: { initialInterval: '1s', maxInterval: '4s', horizon: '2h' },
      ...(o.settle ? { settle: o.settle } : {}),
      destinations: ['flaky', 'healthy'],
    }],
    destinations: [
      { id: 'flaky', type: 'http', url: flaky.url, allowInsecureLoopback: true, gzip: true, maxBatchRecords: 400, timeout: '5s',
        headers: { Authorization: { secretRef: 'env:MTC_FAULT_RECEIVER_TOKEN' } }, retry: { initialInterval: '1s', maxInterval: '4s', horizon: '2h' } },
      { id: 'healthy', type: 'http', url: healthy.url, allowInsecureLoopback: true, maxBatchRecords: 1000 },
    ],
  };
  const configPath = path.join(work, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const caPath = path.join(work, 'ca.pem');
  writeFileSync(caPath, sim.caCertificatePem!);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JobsStorage: o.storageConnectionString,
    MTC_TABLE_PREFIX: prefix,
    MTC_PAGE_QUEUE: queue,
    MTC_FAULT_CLIENT_SECRET: tenant.clientSecret,
    MTC_FAULT_RECEIVER_TOKEN: receiverToken,
    NODE_EXTRA_CA_CERTS: caPath,
    MTC_LOCAL_LOCK_SECONDS: '3',
    MTC_OUTBOX_STALE_SECONDS: '3',
    // A killed process's page claims lapse after 6 s (the heartbeat renews them every 2 s).
    MTC_CLAIM_TTL_SECONDS: '6',
    // The simulator's throttle is off in this run (429s are injected as faults), so the budget is as
    // good as off too: its largest allowed limit (10000) over a one-minute window. The grant log of a
    // window stays far below the 64 KiB property limit of Azure Tables (~16 bytes a grant).
    MTC_BUDGET_LIMIT: '10000',
    MTC_BUDGET_WINDOW_SECONDS: '60',
  };
  const cli = path.resolve(__dirname, '..', '..', 'local', 'cli.js');
  // Collector output: every chunk goes to a file and is scanned for secrets as it arrives (with the
  // previous chunk's tail, so a secret split across two chunks is found); only a tail stays in memory
  // (an hour-long soak logs hundreds of megabytes).
  const outputFile = path.join(work, 'collector-output.log');
  const OUTPUT_TAIL = 64 * 1024;
  let output = '';
  let outputLeaks = false;
  const secretsToFind = () => [tenant.clientSecret, receiverToken];
  const onCollectorOutput = (text: string) => {
    appendFileSync(outputFile, text);
    const window = output.slice(-256) + text;
    if (secretsToFind().some((sec) => window.includes(sec))) outputLeaks = true;
    output = (output + text).slice(-OUTPUT_TAIL);
  };
  const lifetimes: { start: number; killedAt?: number; exitedAt?: number }[] = [];
  const seedRng = mulberry(o.seed);

  const runOnce = (killAfterMs?: number, onOutput?: (text: string) => void) => new Promise<number | 'killed'>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, '--config', configPath, '--once', '--port', '0', '--verbose'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const life: { start: number; killedAt?: number; exitedAt?: number } = { start: Date.now() };
    lifetimes.push(life);
    child.stdout.on('data', (c: Buffer) => { onCollectorOutput(c.toString()); onOutput?.(c.toString()); });
    child.stderr.on('data', (c: Buffer) => { onCollectorOutput(c.toString()); });
    let timer: NodeJS.Timeout | undefined;
    if (killAfterMs !== undefined) {
      timer = setTimeout(() => {
        life.killedAt = Date.now();
        child.kill('SIGKILL');
      }, killAfterMs);
    }
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the collector run did not finish within ${o.timeoutMs ?? 600_000} ms; full output in ${outputFile}; tail:\n${output.slice(-3000)}`));
    }, o.timeoutMs ?? 600_000);
    child.on('exit', (code, signal) => {
      life.exitedAt = Date.now();
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      resolve(signal === 'SIGKILL' && life.killedAt ? 'killed' : code ?? 1);
    });
  });

  let kills = 0;
  let runs = 0;
  let outage: NodeJS.Timeout | undefined;
  let outageOver = true;
  if (o.destinationOutageMs) {
    outageOver = false;
    const normal = { seed: o.seed, probabilities: Object.fromEntries(DEST_FAULTS.map((f) => [f, o.destinationFaultRate])), slowMs: 200 };
    flaky.setFaults({ ...normal, probabilities: { ...normal.probabilities, error503: 1 } });
    outage = setTimeout(() => { flaky.setFaults(normal); outageOver = true; }, o.destinationOutageMs);
    log(`destination flaky is down (503 to everything) for the first ${Math.round(o.destinationOutageMs / 1000)} s`);
  }
  try {
    for (let k = 0; k < o.kills; k++) {
      const delay = Math.floor(500 + seedRng() * (o.maxRunBeforeKillMs - 500));
      runs++;
      const r = await runOnce(delay);
      if (r === 'killed') {
        kills++;
        log(`run ${runs}: killed after ${delay} ms`);
      } else {
        log(`run ${runs}: finished (exit ${r}) before the kill at ${delay} ms`);
      }
    }
    // The final phase: with concurrentFinalRuns > 1, several collectors (two planners, two sets of
    // workers, as a second app or a local run next to Azure) race over the same state. With
    // concurrentBackfills, overlapping backfill requests race at their HTTP APIs meanwhile.
    const finalRuns = Math.max(1, o.concurrentFinalRuns ?? 1);
    runs += finalRuns;
    const apis: { url: string; key: string }[] = [];
    let backfillsSent: Promise<BackfillAnswer[]> | undefined;
    const onApi = () => {
      let seen = '';
      let done = false;
      return (text: string) => {
        if (done) return;
        seen += text;
        const m = /HTTP API:\s+(\S+)\s+\(header x-functions-key: (\S+)\)/.exec(seen);
        if (!m) return;
        done = true;
        found(m);
      };
    };
    const found = (m: RegExpExecArray) => {
      apis.push({ url: m[1]!, key: m[2]! });
      if (apis.length === finalRuns && o.concurrentBackfills) backfillsSent = postOverlappingBackfills(apis, o.concurrentBackfills, startMs, o.backfillHours ?? 3);
    };
    const exits = await Promise.all(Array.from({ length: finalRuns }, () => runOnce(undefined, onApi())));
    log(`final run${finalRuns > 1 ? `s (${finalRuns} at once)` : ''}: exit ${exits.join(', ')}`);
    if (exits.some((e) => e === 2)) log(`a final run refused its configuration or options (exit 2); output in ${outputFile}; tail:\n${output.slice(-1500)}`);
    const answers = backfillsSent ? await backfillsSent : [];
    const backfillAnswers: Record<string, number> = {};
    for (const a of answers) backfillAnswers[a.status] = (backfillAnswers[a.status] ?? 0) + 1;
    const admitted = answers.find((a) => a.status === 202);
    const backfill = admitted ? { runId: admitted.runId!, startMs: admitted.startMs!, endMs: admitted.endMs! } : undefined;
    if (o.concurrentBackfills) {
      log(`concurrent backfills: ${o.concurrentBackfills} POSTs over ${apis.length} collectors; answers ${JSON.stringify(backfillAnswers)}${backfill ? `; admitted ${backfill.runId} ${new Date(backfill.startMs).toISOString()} .. ${new Date(backfill.endMs).toISOString()}` : ''}`);
    }
    // What the final collectors left: a backfill admitted while they drained, a destination still
    // down, re-reads that came due. One collector at a time until the outage is over, then once more.
    for (let extra = 0; (backfill || !outageOver || o.settle) && extra < 200; extra++) {
      const wasOver = outageOver;
      runs++;
      const r = await runOnce();
      log(`completion run ${extra + 1}: exit ${r}${wasOver ? '' : ' (destination flaky still down when it started)'}`);
      if (wasOver) break;
      if (!outageOver) await new Promise((res) => setTimeout(res, 2000));
    }

    // Compare with the ground truth.
    const storage = storageFromEnvironment({ JobsStorage: o.storageConnectionString });
    const ledger = new Ledger(storage, prefix);
    const health = await ledger.getHealth('faulty');
    const completedUntil = health?.completedUntil ?? startMs;
    const settledUntil = Math.min(Math.max(health?.settledUntil ?? startMs, startMs), completedUntil);
    let parked = 0, requests = 0;
    for await (const s of ledger.listSlices('faulty')) {
      if (s.state === 'parked') parked++;
      requests += s.requests;
    }
    const asOf = Date.now();
    // Late rows (rereadChanges.lateRowFraction) appear inside a window after a page covering it was
    // read. Every one that some response served (a page fetched again after a kill, a settle
    // re-read, a backfill) is required: once the API gave it, it must not be lost. The others may
    // not have been read yet: allowed, not required.
    const required = (from: number, to: number) => sim.groundTruth(tenant.tenantId, from, to, { asOf, lateRows: 'served' });
    const truth = [...required(startMs, completedUntil), ...(backfill ? required(backfill.startMs, backfill.endMs) : [])];
    const expectedKeys = new Set(truth.map((r) => rowKey(tenant.tenantId, r)));
    const count = (from: number, to: number, lateRows: 'visible' | 'served' | 'none') => sim.countGroundTruth(tenant.tenantId, from, to, { asOf, lateRows });
    const lateRowsRequired = truth.length - count(startMs, completedUntil, 'none') - (backfill ? count(backfill.startMs, backfill.endMs, 'none') : 0);
    const lateRowsNotRead = count(startMs, completedUntil, 'visible') - count(startMs, completedUntil, 'served');
    const killWindows = killWindowsOf(lifetimes);
    // A late row some collector delivered was served to it, so it is in expectedKeys: nothing else is allowed.
    const analysed = [analyseDeliveries('flaky', flaky, expectedKeys, killWindows), analyseDeliveries('healthy', healthy, expectedKeys, killWindows)];
    if (process.env.MTC_FAULT_DUMP) {
      // Debugging aid: every event of the healthy receiver whose eventId came more than once.
      const seen = new Map<string, number[]>();
      healthy.events.forEach((e, i) => seen.set(e.eventId, [...(seen.get(e.eventId) ?? []), i]));
      const dups = [...seen.values()].filter((ix) => ix.length > 1).map((ix) => ix.map((i) => ({ i, at: healthy.arrivals[i]!.at, ev: healthy.events[i] })));
      writeFileSync(process.env.MTC_FAULT_DUMP, JSON.stringify({ lifetimes, dups: dups.slice(0, 200) }, null, 1));
    }
    const destinations = analysed.map(({ excused: _excused, ...d }) => d);
    if (analysed.some((d) => d.lost > 0)) {
      // Where the lost rows are: by region (backfill, settled, unsettled) and late or not.
      const got = new Set(healthy.events.map((e) => rowKey(e.tenantId, e.row)));
      const missing = truth.filter((r) => !got.has(rowKey(tenant.tenantId, r)));
      const onTimeByHour = new Map<number, Set<string>>();
      const where: Record<string, number> = {};
      for (const r of missing) {
        const t = Date.parse(r.receivedDateTime);
        const hour = Math.floor(t / 3600_000) * 3600_000;
        if (!onTimeByHour.has(hour)) onTimeByHour.set(hour, new Set(sim.groundTruth(tenant.tenantId, hour, hour + 3600_000, { asOf, lateRows: 'none' }).map((x) => rowKey(tenant.tenantId, x))));
        const region = t < startMs ? 'backfill' : t < settledUntil ? 'settled' : 'unsettled';
        const k = `${region} ${onTimeByHour.get(hour)!.has(rowKey(tenant.tenantId, r)) ? 'on-time' : 'late'} ${new Date(hour).toISOString().slice(0, 13)}h`;
        where[k] = (where[k] ?? 0) + 1;
      }
      log(`rows missing at healthy, by region, kind and hour: ${JSON.stringify(where)}`);
    }
    const arrivalTimes = [...flaky.arrivals, ...healthy.arrivals].map((a) => a.at);
    const killWindowViolations = auditKillWindows(lifetimes, killWindows, analysed, arrivalTimes);
    for (const w of killWindows) log(`run ${w.run + 1}: killed; kill window ${w.to - w.from} ms; copies excused by it: ${analysed.map((d) => `${d.id} ${d.excused.filter((c) => c.firstAt >= w.from && c.firstAt <= w.to).length}`).join(', ')}`);

    // Secrets: never in logs, status, state rows or queue messages.
    const secrets = [tenant.clientSecret, receiverToken];
    const haystacks: [string, string][] = [];
    for (const t of ledger.tableNames().concat(`${prefix}poison`)) {
      const rows: unknown[] = [];
      try {
        for await (const e of storage.table(t).listEntities()) rows.push(e);
      } catch { /* table may not exist */ }
      haystacks.push([`table ${t}`, JSON.stringify(rows)]);
    }
    for (const q of [queue, `${queue}-poison`]) {
      const peek = await storage.queue(q).peekMessages({ numberOfMessages: 32 }).catch(() => ({ peekedMessageItems: [] }));
      haystacks.push([`queue ${q}`, JSON.stringify(peek.peekedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString()))]);
    }
    const secretLeaks = haystacks.filter(([, text]) => secrets.some((s) => text.includes(s))).map(([where]) => where);
    if (outputLeaks) secretLeaks.unshift('collector output');

    const stats = sim.stats(tenant.tenantId);
    const faultCounts: Record<string, number> = {};
    for (const [k, v] of Object.entries(stats.faultsInjected)) faultCounts[`api ${k}`] = v;
    for (const [k, v] of Object.entries(flaky.faultsInjected)) faultCounts[`destination ${k}`] = v;
    faultCounts['process kill (SIGKILL)'] = kills;
    const table = formatTable(faultCounts, truth.length, destinations, { runs, parked, requests, completedUntil, startMs, settledUntil, lateRowsRequired, lateRowsNotRead, backfillAnswers, backfill });
    return {
      faults: faultCounts, expected: truth.length, destinations, kills, runs, parked, requests, secretLeaks, killWindowViolations, killWindows, table,
      settledUntil, lateRowsRequired, lateRowsNotRead, backfillAnswers, ...(backfill ? { backfill } : {}),
    };
  } finally {
    if (outage) clearTimeout(outage);
    await sim.stop();
    await flaky.close();
    await healthy.close();
  }
}

/**
 * Classifies what a receiver holds against the expected rows: first copies, copies whose first
 * copy's acknowledgement was lost, copies whose first copy arrived inside a kill window (excused,
 * listed), and the rest (unexplained duplicates).
 */
export function analyseDeliveries(id: string, r: Pick<Receiver, 'events' | 'arrivals'>, expected: Set<string>, windows: readonly KillWindow[]) {
  // A copy is a second event with the same eventId. An update event (a status that changed, a
  // late row found by a settle re-read) has its own eventId: it is a new event, not a copy.
  const firstIndex = new Map<string, number>();
  const rows = new Set<string>();
  const excused: ExcusedCopy[] = [];
  let unexplained = 0, ackLost = 0, unexpected = 0;
  r.events.forEach((e, i) => {
    const key = rowKey(e.tenantId, e.row);
    if (!expected.has(key)) {
      unexpected++;
      return;
    }
    rows.add(key);
    const first = firstIndex.get(e.eventId);
    if (first === undefined) {
      firstIndex.set(e.eventId, i);
      return;
    }
    const a = r.arrivals[first]!;
    if (a.ackLost) ackLost++;
    else if (windows.some((w) => a.at >= w.from && a.at <= w.to)) excused.push({ key: e.eventId, firstAt: a.at, at: r.arrivals[i]!.at });
    else unexplained++;
  });
  return { id, delivered: rows.size, lost: expected.size - rows.size, unexplainedDuplicates: unexplained, ackLostDuplicates: ackLost, killWindowDuplicates: excused.length, unexpected, excused };
}

/**
 * Checks that the kill window excuses only real kill-window copies. Returns one line per problem:
 * - a window whose bounds are not the documented ones (2 s before the kill, 0.5 s after the exit);
 * - an excused copy whose first copy did not arrive inside a killed run's window, recomputed from
 *   the run lifetimes, or that arrived before that kill (so no later run can have sent it);
 * - a row excused more often than the runs started after its first copy could have resent it;
 * - a run that delivered something before the previous run's kill window closed (then copies of
 *   the new run could be mistaken for copies of the killed one: the classification is not sound).
 */
export function auditKillWindows(
  lifetimes: readonly RunLifetime[],
  windows: readonly KillWindow[],
  destinations: readonly { id: string; excused: readonly ExcusedCopy[] }[],
  arrivalTimes: readonly number[],
): string[] {
  const problems: string[] = [];
  const killed = lifetimes.map((l, run) => ({ ...l, run })).filter((l) => l.killedAt !== undefined);
  if (windows.length !== killed.length) problems.push(`${windows.length} kill windows for ${killed.length} killed runs`);
  for (const w of windows) {
    const l = lifetimes[w.run];
    if (!l?.killedAt) {
      problems.push(`run ${w.run + 1} has a kill window but was not killed`);
      continue;
    }
    const from = l.killedAt - 2000;
    const to = (l.exitedAt ?? l.killedAt) + 500;
    if (w.from !== from || w.to !== to) problems.push(`run ${w.run + 1}: kill window [kill${w.from - l.killedAt} ms, exit+${w.to - (l.exitedAt ?? l.killedAt)} ms] is not the documented [kill-2000 ms, exit+500 ms]`);
  }
  for (const d of destinations) {
    const perRow = new Map<string, number>();
    for (const c of d.excused) {
      const owner = killed.find((l) => c.firstAt >= l.killedAt! - 2000 && c.firstAt <= (l.exitedAt ?? l.killedAt!) + 500);
      if (!owner) {
        problems.push(`${d.id}: copy of ${c.key} excused, but its first copy (at ${new Date(c.firstAt).toISOString()}) lies in no killed run's window`);
        continue;
      }
      if (c.at <= owner.killedAt!) problems.push(`${d.id}: copy of ${c.key} excused by the kill of run ${owner.run + 1}, but it arrived before that kill`);
      perRow.set(c.key, (perRow.get(c.key) ?? 0) + 1);
      const later = lifetimes.filter((l) => l.start > c.firstAt).length;
      if (perRow.get(c.key)! > later) problems.push(`${d.id}: ${c.key} excused ${perRow.get(c.key)} times, but only ${later} run(s) started after its first copy`);
    }
  }
  lifetimes.forEach((l, i) => {
    const prev = lifetimes[i - 1];
    if (!prev?.killedAt) return;
    const first = arrivalTimes.reduce((m, t) => (t >= l.start && t < m ? t : m), Number.POSITIVE_INFINITY);
    const closes = (prev.exitedAt ?? prev.killedAt) + 500;
    if (Number.isFinite(first) && first <= closes) problems.push(`run ${i + 1}: first delivery at +${first - l.start} ms, inside the previous run's kill window (closes at +${closes - l.start} ms)`);
  });
  return problems;
}

function formatTable(faults: Record<string, number>, expected: number, dests: FaultSuiteResult['destinations'], info: {
  runs: number; parked: number; requests: number; completedUntil: number; startMs: number; settledUntil: number; lateRowsRequired: number; lateRowsNotRead: number;
  backfillAnswers: Record<string, number>; backfill?: { runId: string; startMs: number; endMs: number };
}): string {
  const lines = ['faults injected', ...Object.entries(faults).map(([k, v]) => `  ${k.padEnd(30)} ${v}`)];
  lines.push(`collector runs ${info.runs}; range ${new Date(info.startMs).toISOString()} .. ${new Date(info.completedUntil).toISOString()}; API requests ${info.requests}; parked slices ${info.parked}`);
  lines.push(`settled until ${new Date(info.settledUntil).toISOString()}; late rows served by a later read (required): ${info.lateRowsRequired}; not read again yet: ${info.lateRowsNotRead}`);
  if (Object.keys(info.backfillAnswers).length) {
    lines.push(`concurrent overlapping backfills: answers ${Object.entries(info.backfillAnswers).map(([k, v]) => `${k} x${v}`).join(', ')}${info.backfill ? `; admitted ${new Date(info.backfill.startMs).toISOString()} .. ${new Date(info.backfill.endMs).toISOString()} (in expected)` : ''}`);
  }
  lines.push('destination   expected  delivered  lost  duplicated  (ack lost)  (kill window)  unexpected');
  for (const d of dests) {
    lines.push(`${d.id.padEnd(12)}  ${String(expected).padStart(8)}  ${String(d.delivered).padStart(9)}  ${String(d.lost).padStart(4)}  ${String(d.unexplainedDuplicates).padStart(10)}  ${String(d.ackLostDuplicates).padStart(10)}  ${String(d.killWindowDuplicates).padStart(13)}  ${String(d.unexpected).padStart(10)}`);
  }
  return lines.join('\n');
}

interface BackfillAnswer { status: number; runId?: string; startMs?: number; endMs?: number; message?: string }

/**
 * `n` POSTs at once, round-robin over the collectors' HTTP APIs, of three mutually overlapping
 * ranges inside the `hours` before the source's start (every pair overlaps, so at most one may run).
 */
async function postOverlappingBackfills(apis: { url: string; key: string }[], n: number, sourceStartMs: number, hours: number): Promise<BackfillAnswer[]> {
  const H = 3600_000;
  const ranges = [
    { start: sourceStartMs - hours * H, end: sourceStartMs },
    { start: sourceStartMs - hours * H, end: sourceStartMs - H },
    { start: sourceStartMs - (hours - 1) * H, end: sourceStartMs },
  ];
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const api = apis[i % apis.length]!;
    const r = ranges[i % ranges.length]!;
    try {
      const res = await fetch(`${api.url}/sources/faulty/backfill`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-functions-key': api.key },
        body: JSON.stringify({ start: new Date(r.start).toISOString(), end: new Date(r.end).toISOString() }),
      });
      const body = await res.json().catch(() => ({})) as { runId?: string; start?: string; end?: string; message?: string };
      return { status: res.status, ...(body.runId ? { runId: body.runId } : {}), ...(res.status === 202 ? { startMs: Date.parse(body.start!), endMs: Date.parse(body.end!) } : {}), ...(body.message ? { message: body.message } : {}) };
    } catch (err) {
      return { status: 0, message: (err as Error).message };
    }
  }));
}

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
