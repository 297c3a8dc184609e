/**
 * `mtc start`: the collector, locally, the way Azure runs it (embedded Azurite, the real function
 * handlers in the local Functions host). Without --config: the bundled simulator as the tenant and
 * NDJSON files in ./out. With --config: that configuration, its state kept between runs in
 * `.mtc-state/<config name>/` next to the file (or --state-dir), unless JobsStorage names a storage
 * account (then the state lives there).
 *
 * `--once` plans once, drains until idle (or until nothing has moved for --give-up-after), prints
 * a summary with each source's final state and last error, and exits non-zero when a source ended
 * in Error or Stopping, a slice is parked, or a source that had work planned collected none of it.
 * Without --once it runs until Ctrl-C / SIGTERM, showing progress, and prints the summary on the way out.
 */
import { readSettings } from '../shared/settings';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../shared/components';
import { formatDuration, parseDuration } from '../shared/time/expressions';
import { onceFailures, runOnce, startLocalRun, summarise, summaryDelta, type LocalRun, type RunSummary } from '../local/run';
import { startProgress } from './progress';
import { UsageError, type Io } from './io';

export interface StartOptions {
  once?: boolean;
  config?: string;
  out?: string;
  port?: string;
  start?: string;
  rowsPerDay?: string;
  speed?: string;
  stateDir?: string;
  fresh?: boolean;
  giveUpAfter?: string;
  progressEvery?: string;
  verbose?: boolean;
}

/** The default state folder of a configuration file: `.mtc-state/<file name without .json>` beside it. */
export function defaultStateDir(configFile: string): string {
  const abs = path.resolve(configFile);
  return path.join(path.dirname(abs), '.mtc-state', path.basename(abs).replace(/\.json$/i, ''));
}

function wholeNumber(name: string, value: string | undefined, integer = true): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ 0, got "${value}"`);
  return n;
}

function durationOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value, `--${name}`);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The summary lines: per source its state, counters of this run and the last error with its fix. */
export function formatSummary(run: RunSummary, total: RunSummary, opts: { verbose?: boolean } = {}): string[] {
  const lines = ['', 'summary'];
  const totals = new Map(total.sources.map((s) => [s.id, s]));
  for (const s of run.sources) {
    const t = totals.get(s.id) ?? s;
    lines.push(`  source ${s.id}: state ${s.state}, rows fetched ${s.rowsFetched}, requests ${s.requests}, slices done ${t.slices.done}, parked ${t.slices.parked}, pending ${t.slices.pending + t.slices.fetching}${t.completedUntil ? `, complete until ${t.completedUntil}` : ''}`);
    for (const d of s.destinations) {
      const td = t.destinations.find((x) => x.id === d.id) ?? d;
      lines.push(`    destination ${d.id}: rows forwarded ${d.rowsForwarded}${td.state === 'ok' ? '' : `, ${td.state}${td.state === 'parked' ? ` (${td.parkReason})` : ''}, ${td.waiting} unit(s) waiting in its backlog`}`);
      const de = td.lastError;
      if (de && td.state !== 'ok') {
        lines.push(`      last error${de.code ? ` [${de.code}]` : ''}: ${de.message ?? '(no message)'}`);
        if (de.fix) lines.push(`      fix: ${de.fix}`);
      }
    }
    const e = s.lastError;
    if (e && (s.state !== 'Collecting' || t.slices.parked > 0 || t.slices.pending + t.slices.fetching > 0 || opts.verbose)) {
      lines.push(`    last error${e.code ? ` [${e.code}]` : ''}: ${e.message ?? '(no message)'}`);
      if (e.fix) lines.push(`    fix: ${e.fix}`);
      if (opts.verbose && e.excerpt) lines.push(`    detail: ${e.excerpt}`);
    }
  }
  return lines;
}

export async function startCommand(o: StartOptions, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const configPath = o.config;
  if (configPath && (o.start || o.rowsPerDay || o.speed)) throw new UsageError('--start, --rows-per-day and --speed apply to the bundled simulator; with --config, set "start" in the configuration');
  const port = wholeNumber('port', o.port);
  const speed = wholeNumber('speed', o.speed, false);
  if (speed === 0) throw new UsageError('--speed must be above 0');
  const rowsPerDay = wholeNumber('rows-per-day', o.rowsPerDay);
  const giveUpAfterMs = durationOption('give-up-after', o.giveUpAfter ?? '3m');
  const progressEveryMs = durationOption('progress-every', o.progressEvery ?? '30s')!;
  const verbose = !!o.verbose;

  // Where the state lives.
  const external = env.JobsStorage;
  let stateDir: string | undefined;
  if (external) {
    if (o.fresh) throw new UsageError('--fresh clears the local state folder, but JobsStorage is set, so the state lives in that storage account; use a new MTC_TABLE_PREFIX and MTC_PAGE_QUEUE to start fresh there');
    if (o.stateDir) throw new UsageError('--state-dir is for the embedded storage; JobsStorage is set, so the state lives in that storage account');
  } else if (o.stateDir) {
    stateDir = path.resolve(o.stateDir);
  } else if (configPath) {
    stateDir = defaultStateDir(configPath);
  }
  if (o.fresh) {
    if (!stateDir) throw new UsageError('--fresh needs a state folder: without --config the bundled simulator run keeps no state between runs');
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  const settings = readSettings(env);
  const stateWhere = external
    ? `the storage account of JobsStorage (tables ${settings.tablePrefix}*, queue ${settings.pageQueue})`
    : stateDir ?? 'memory (lost at exit; the bundled simulator run starts fresh each time)';

  let run: LocalRun;
  try {
    run = await startLocalRun({
      ...(configPath ? { configPath } : {}),
      ...(o.out ? { outDir: o.out } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(speed !== undefined ? { speed } : {}),
      ...(rowsPerDay !== undefined ? { rowsPerDay } : {}),
      ...(o.start ? { start: o.start } : {}),
      ...(stateDir ? { storageLocation: stateDir } : {}),
      enableTimers: !o.once,
      log: (level, message, data) => {
        if (level === 'debug' && !verbose) return;
        const line = `[host] ${message}${data && verbose ? ` ${JSON.stringify(data)}` : ''}`;
        if (level === 'error' || level === 'warn') io.err(line);
        else if (verbose || level === 'info') io.out(line);
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`mtc start: the configuration has errors:\n${err.message.split('\n').map((l) => `  ${l}`).join('\n')}`);
      return 2;
    }
    io.err(`mtc start: could not start: ${(err as Error).message}`);
    if (verbose && (err as Error).cause) io.err(`  cause: ${String((err as Error).cause)}`);
    return 1;
  }

  const { host, simulator, config } = run;
  io.out(`message-trace-collector running locally (${run.clock.describe()})`);
  if (simulator) io.out(`  tenant:        bundled simulator at ${simulator.baseUrl} (tenant ${simulator.tenants[0]!.tenantId})`);
  for (const s of config.sources) io.out(`  source:        ${s.id} -> ${s.destinations.join(', ')}${s.enabled ? '' : ' (disabled)'}`);
  for (const d of config.destinations) io.out(`  destination:   ${d.id} (${d.type}${d.type === 'file' ? ` ${d.directory}` : ''})`);
  io.out(`  state:         ${stateWhere}`);
  io.out(`  HTTP API:      ${host.httpBaseUrl}  (header x-functions-key: ${host.functionKey})`);
  io.out(`  status:        mtc status --url ${host.httpBaseUrl} --key ${host.functionKey}`);

  const before = await summarise();
  let stopping: Promise<number> | undefined;
  const finish = (gaveUp: boolean, reason?: string): Promise<number> => {
    stopping ??= (async () => {
      progress?.stop();
      if (reason) io.out(reason);
      let code = 0;
      try {
        const total = await summarise();
        const delta = summaryDelta(before, total);
        for (const l of formatSummary(delta, total, { verbose })) io.out(l);
        io.out(`  state kept in ${stateWhere}`);
        if (o.once) {
          const problems = onceFailures(delta, total, { gaveUp });
          if (gaveUp) problems.unshift(`nothing moved for ${formatDuration(giveUpAfterMs!)} (--give-up-after); gave up`);
          if (problems.length) {
            io.out(`\nFAILED: ${problems.join('; ')}`);
            code = 1;
          }
        }
      } catch (err) {
        io.err(`the summary failed: ${(err as Error).message}`);
        code = 1;
      }
      await run.stop().catch((err) => io.err(`stop failed: ${(err as Error).message}`));
      return code;
    })();
    return stopping;
  };

  let progress: { stop(): void } | undefined;
  const signalled = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.err(`${signal} again: exiting now`);
        process.exit(130);
      }
      void finish(false, `\n${signal}: stopping…`).then((code) => resolve(o.once ? Math.max(code, 1) : code));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  if (!o.once) {
    io.out(`planning every minute; progress every ${formatDuration(progressEveryMs)}${io.isTTY ? ' (live line)' : ''}; Ctrl-C stops`);
    progress = startProgress(run, io, { everyMs: progressEveryMs });
    return signalled;
  }
  const work = (async () => {
    try {
      const r = await runOnce(run, { giveUpAfterMs: giveUpAfterMs! });
      return finish(r.gaveUp);
    } catch (err) {
      io.err(`the run did not finish: ${(err as Error).message}`);
      await finish(true);
      return 1;
    }
  })();
  return Promise.race([work, signalled]);
}
