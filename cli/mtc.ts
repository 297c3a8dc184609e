#!/usr/bin/env node
/**
 * `mtc`: the one command line of message-trace-collector (package.json `bin`; `./mtc` at the repo
 * root brings Node 22 and the dependencies first; the `npm run` scripts are aliases of it).
 *
 *   mtc start | diagnose | backfill | status | replay | simulator | bench | soak
 *
 * One argument library: commander. It gives every subcommand its own `--help` (with the examples
 * added below), rejects unknown options and commands with a "did you mean", reads an option from
 * an environment variable (`--config` from MTC_CONFIG_PATH) and parses subcommands the same way
 * everywhere, which node's util.parseArgs leaves to hand-written code.
 * Exit codes: 0 done, 1 the work failed (see the message), 2 a usage or configuration error.
 */
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../shared/config-common/issues';
import { processIo, UsageError, type Io } from './io';
// The commands load their modules when they run, so `--help` and usage errors answer at once.
import type { BackfillArgs, StatusArgs } from './host-api';
import type { SoakOptions } from '../test/soak';
import { runSimulator, simulatorCommand, simulatorOptionsFrom, type SimulatorFlags } from '../simulator/cli';

const MIN_NODE_MAJOR = 22;

/** A clear message when the Node in use is too old (the first symptom is otherwise an obscure TypeError). */
export function nodeTooOld(version = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return undefined;
  return `mtc needs Node ${MIN_NODE_MAJOR} or newer; this is Node ${version} (${process.execPath}). Run ./mtc from the repository root (it brings Node ${MIN_NODE_MAJOR} from the npm registry), or install Node ${MIN_NODE_MAJOR}.`;
}

const configOption = () => new Option('--config <file>', 'the configuration file (JSON, see docs/configuration.md)').env('MTC_CONFIG_PATH');
const hostUrlOption = () => new Option('--url <url>', 'base URL of the running host\'s HTTP API').env('MTC_HOST_URL').default('http://127.0.0.1:7071/api');
const hostKeyOption = () => new Option('--key <key>', 'the function key (x-functions-key) of the host').env('MTC_FUNCTION_KEY');

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

export function buildProgram(io: Io, env: NodeJS.ProcessEnv, setCode: (code: number | Promise<number>) => void): Command {
  const program = new Command('mtc')
    .description('message-trace-collector: collect Exchange Online message trace rows and forward them to SIEM destinations')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage and examples)')
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) })
    .exitOverride()
    .addHelpText('after', examples([
      './mtc start                                 the collector on its defaults (bundled simulator, files in ./out)',
      './mtc start --config my.json --once         collect once with a real configuration, then exit',
      './mtc diagnose contoso --config my.json     check one source: token, permission, a probe query',
      './mtc test                                  the test suite (the ./mtc launcher only)',
    ]));
  program.enablePositionalOptions();

  program.command('start')
    .description('run the collector locally (embedded storage, the real functions); with --once, collect once and exit')
    .addOption(configOption())
    .option('--once', 'plan once, drain until idle, print a summary and exit (non-zero if a source failed)')
    .option('--fresh', 'delete the state of this configuration first (re-collect from "start")')
    .option('--state-dir <dir>', 'where state is kept between runs (default with --config: .mtc-state/<config name>/ next to the file)')
    .addOption(new Option('--storage-dir <dir>', 'old name of --state-dir').hideHelp())
    .option('--give-up-after <duration>', 'with --once: stop when nothing has moved for this long (an endpoint that stays unreachable)', '3m')
    .option('--out <dir>', 'output folder of the default file destination (bundled simulator run)', 'out')
    .option('--port <n>', 'HTTP port of the local Functions host (0 = any free port)', '7071')
    .option('--start <time>', 'bundled simulator: where collection starts (default -2h@h)')
    .option('--rows-per-day <n>', 'bundled simulator: traffic volume (default 50000)')
    .option('--speed <factor>', 'bundled simulator: clock speed (1 = real time)')
    .option('--progress-every <duration>', 'continuous run: progress line interval when not on a terminal', '30s')
    .option('--verbose', 'log every invocation and the underlying cause of errors')
    .addHelpText('after', examples([
      'mtc start                                      bundled simulator, NDJSON in ./out, until Ctrl-C',
      'mtc start --once                               collect the last two hours from the simulator and exit',
      'mtc start --config my.json --once              a real tenant; state in .mtc-state/my/ next to my.json',
      'mtc start --config my.json --once --fresh      start over from the configured "start"',
      'MTC_CONFIG_PATH=my.json mtc start              the same file through the environment',
      '',
      'Exit codes (--once): 0 every source collected; 1 a source ended in Error or Stopping, a slice is',
      'parked, a source collected nothing of what was planned, or nothing moved for --give-up-after; 2 usage.',
      'Environment: JobsStorage (state in that storage account instead of the embedded one), MTC_PLAN_SCHEDULE.',
    ]))
    .action((opts: Record<string, string | boolean | undefined>) => {
      setCode(import('./start.js').then(({ startCommand }) => startCommand({
        once: !!opts.once, fresh: !!opts.fresh, verbose: !!opts.verbose,
        ...(opts.config ? { config: String(opts.config) } : {}),
        ...(opts.stateDir ?? opts.storageDir ? { stateDir: String(opts.stateDir ?? opts.storageDir) } : {}),
        giveUpAfter: String(opts.giveUpAfter), out: String(opts.out), port: String(opts.port),
        progressEvery: String(opts.progressEvery),
        ...(opts.start ? { start: String(opts.start) } : {}),
        ...(opts.rowsPerDay ? { rowsPerDay: String(opts.rowsPerDay) } : {}),
        ...(opts.speed ? { speed: String(opts.speed) } : {}),
      }, io, env)));
    });

  program.command('diagnose')
    .description('check one source: get a token, check the permission, run a one-row probe, name the fix')
    .argument('<source>', 'the source id in the configuration')
    .addOption(configOption())
    .option('--json', 'print the diagnosis as JSON')
    .option('--auth-url', 'authorizationCode method: print the sign-in URL')
    .option('--auth-code <code>', 'authorizationCode method: redeem this one-time code and store the refresh token')
    .option('--verbose', 'show the underlying cause of a failure')
    .addHelpText('after', examples([
      'mtc diagnose contoso --config my.json',
      'mtc diagnose contoso --config my.json --json',
      'mtc diagnose contoso --config my.json --auth-url       (then --auth-code <code>)',
      'Exit codes: 0 the source is ready (Collecting), 1 it is not (the fix is printed), 2 usage or configuration.',
    ]))
    .action((source: string, opts: Record<string, string | boolean | undefined>) => {
      setCode(import('./diagnose.js').then(({ diagnoseCommand }) => diagnoseCommand({
        source, json: !!opts.json, authUrl: !!opts.authUrl, verbose: !!opts.verbose,
        ...(opts.config ? { config: String(opts.config) } : {}),
        ...(typeof opts.authCode === 'string' ? { authCode: opts.authCode } : {}),
      }, io, env)));
    });

  program.command('backfill')
    .description('start a backfill on a running host (local or Azure) over its HTTP API, or show a run\'s progress')
    .argument('<source>', 'the source id')
    .option('--start <time>', 'where the backfill starts (ISO time or an expression such as -7d@d)')
    .option('--end <time>', 'where it ends (default: where live collection started)')
    .option('--run <runId>', 'show the progress of this run instead of starting one')
    .option('--wait', 'poll until the run is done')
    .addOption(hostUrlOption())
    .addOption(hostKeyOption())
    .addHelpText('after', examples([
      'mtc backfill contoso --start -7d@d --key <function key>',
      'mtc backfill contoso --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z --wait',
      'mtc backfill contoso --run <runId> --url https://<app>.azurewebsites.net/api --key <key>',
    ]))
    .action((source: string, opts: Record<string, string | boolean | undefined>) => {
      setCode(import('./host-api.js').then(({ backfillCommand }) => backfillCommand({ source, ...opts } as BackfillArgs, io)));
    });

  program.command('status')
    .description('show the status of every source (or one) of a running host (local or Azure) over its HTTP API')
    .argument('[source]', 'one source id (default: all)')
    .option('--json', 'print the status document as JSON')
    .addOption(hostUrlOption())
    .addOption(hostKeyOption())
    .addHelpText('after', examples([
      'mtc status --key <function key>                       the local host on port 7071',
      'mtc status contoso --url https://<app>.azurewebsites.net/api --key <key> --json',
      'Exit codes: 0 every source Collecting without parked slices, 1 otherwise, 2 usage.',
    ]))
    .action((source: string | undefined, opts: Record<string, string | boolean | undefined>) => {
      setCode(import('./host-api.js').then(({ statusCommand }) => statusCommand({ ...(source ? { source } : {}), ...opts } as StatusArgs, io)));
    });

  program.command('replay')
    .description('re-send a blob archive (an azure-blob destination) to another configured destination')
    .requiredOption('--from <destination>', 'the azure-blob destination holding the archive')
    .requiredOption('--to <destination>', 'the destination to send it to')
    .option('--source <source>', 'only this source\'s archive')
    .addOption(configOption())
    .addHelpText('after', examples([
      'mtc replay --config my.json --from archive --to siem',
      'mtc replay --config my.json --from archive --to siem --source contoso',
    ]))
    .action((opts: Record<string, string | undefined>) => {
      setCode(import('./replay.js').then(({ replayCommand }) => replayCommand({ from: opts.from!, to: opts.to!, ...(opts.source ? { source: opts.source } : {}), ...(opts.config ? { config: opts.config } : {}) }, io, env)));
    });

  program.addCommand(simulatorCommand()
    .addHelpText('after', examples(['mtc simulator --https --tenants 2 --rows-per-day 100000', 'mtc simulator --port 8443 --fault 503:0.05', 'mtc simulator --distribution-list 3000 --status-change-fraction 0.02']))
    .action((flags: SimulatorFlags) => setCode(runSimulator(simulatorOptionsFrom(flags)))));

  const positive = (flag: string, integer = false) => (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${flag} needs a positive ${integer ? 'whole ' : ''}number, got '${raw}'`);
    return n;
  };
  const scenarios = (raw: string): string[] => {
    const list = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (!list.length || list.some((s) => !['a', 'b', 'c', 'd', 'e'].includes(s))) throw new InvalidArgumentError(`--scenario takes a, b, c, d or e (or a list such as a,c), got '${raw}'`);
    return list;
  };
  program.command('bench')
    .description('the throughput benchmark (real planner and worker in virtual time); prints figures, writes bench/results')
    .option('--scenario <list>', 'a, b, c, d or e, or a list such as a,c (default a,b,c; d is the 1000-tenant MSSP run, e detail enrichment)', scenarios, ['a', 'b', 'c'])
    .option('--quick', 'shorter scenarios', false)
    .option('--latency-ms <n>', 'simulated API latency', positive('--latency-ms'), 3000)
    .option('--backfill-days <n>', 'scenario b: days to backfill', positive('--backfill-days'))
    .option('--hours <n>', 'scenarios a, c, d and e: simulated hours', positive('--hours'))
    .option('--tenants <n>', 'scenarios a, c and d: tenant count', positive('--tenants', true))
    .option('--rows-per-day <n>', 'scenarios a, c and e: rows per tenant per day', positive('--rows-per-day', true))
    .option('--detail-cap <n>', 'scenario e: the daily detail request cap of the tenant with details on (default 20000)', positive('--detail-cap', true))
    .option('--usage', 'count storage operations, executions and telemetry bytes (for docs/cost.md)', false)
    .option('--page-batch <n>', 'MTC_PAGE_BATCH_MAX of the collector under test: most small slices\' first page jobs in one message (default 8; 1 sends each alone)', positive('--page-batch', true))
    .option('--plan-concurrency <n>', 'MTC_PLAN_CONCURRENCY of the collector under test: sources a timer run plans at once (default 32)', positive('--plan-concurrency', true))
    .option('--trace-sampling <share>', 'MTC_TRACE_SAMPLING of the collector under test, 0 to 1: the share of spans and dependencies the cost counts (default 0.25)', (raw: string): number => {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`--trace-sampling needs a number from 0 to 1, got '${raw}'`);
      return n;
    })
    .option('--gzip', 'the destination compresses its requests (http gzip: true); egress is then the compressed bytes', false)
    .option('--no-baseline', 'skip the peer-like baseline')
    .option('--no-page-cost', 'skip the per-page CPU cost')
    .option('--out <dir>', 'results folder (default bench/results)')
    .addHelpText('after', examples(['mtc bench --scenario a --quick', 'mtc bench --scenario b --no-baseline', 'mtc bench --scenario d --tenants 40 --hours 1 --usage', 'mtc bench --scenario e --hours 26 --no-baseline']))
    .action((o: { scenario: string[]; quick: boolean; latencyMs: number; backfillDays?: number; hours?: number; tenants?: number; rowsPerDay?: number; detailCap?: number; pageBatch?: number; planConcurrency?: number; traceSampling?: number; gzip: boolean; usage: boolean; baseline: boolean; pageCost: boolean; out?: string }) => {
      setCode(import('../bench/run.js').then(async ({ runBench, DEFAULT_RESULTS_DIR }) => {
        await runBench({
          scenarios: o.scenario, quick: o.quick, latencyMs: o.latencyMs, usage: o.usage, baseline: o.baseline, pageCost: o.pageCost,
          out: o.out ? path.resolve(o.out) : DEFAULT_RESULTS_DIR,
          ...(o.backfillDays !== undefined ? { backfillDays: o.backfillDays } : {}),
          ...(o.hours !== undefined ? { hours: o.hours } : {}),
          ...(o.tenants !== undefined ? { tenants: o.tenants } : {}),
          ...(o.rowsPerDay !== undefined ? { rowsPerDay: o.rowsPerDay } : {}),
          ...(o.detailCap !== undefined ? { detailCap: o.detailCap } : {}),
          ...(o.pageBatch !== undefined ? { pageBatch: o.pageBatch } : {}),
          ...(o.traceSampling !== undefined ? { traceSampling: o.traceSampling } : {}),
          ...(o.planConcurrency !== undefined ? { planConcurrency: o.planConcurrency } : {}),
          ...(o.gzip ? { gzip: true } : {}),
        });
        return 0;
      }));
    });

  const count = (flag: string, min: number, max: number) => (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a number from ${min} to ${max}, got '${raw}'`);
    return n;
  };
  program.command('soak')
    .description('the long fault-injection run (at least 1M rows, every fault kind, process kills, every real-data shape and race); not part of the tests')
    .option('--seed <n>', 'seed', count('--seed', 0, 2 ** 32 - 1), 7)
    .option('--rows-per-day <n>', 'simulator volume', count('--rows-per-day', 1, 50_000_000), 1_000_000)
    .option('--hours <n>', 'collected hours back from the first run', count('--hours', 1, 24 * 89), 26)
    .option('--kills <n>', 'process kills before the final phase', count('--kills', 0, 100), 8)
    .option('--distribution-lists-per-day <n>', 'distribution-list mails per day (1000-5000 recipients at one instant)', count('--distribution-lists-per-day', 0, 100_000), 48)
    .option('--late-row-fraction <f>', 'rows that appear only after a page covering them was read (found by a later read: a page fetched again, a settle re-read)', count('--late-row-fraction', 0, 1), 0.01)
    .option('--status-change-fraction <f>', 'rows whose status changes after a page served them', count('--status-change-fraction', 0, 1), 0.02)
    .option('--concurrent-final-runs <n>', 'collectors racing over the same state in the final phase', count('--concurrent-final-runs', 1, 8), 2)
    .option('--concurrent-backfills <n>', 'overlapping backfill POSTs at once to the racing collectors; exactly one may be admitted', count('--concurrent-backfills', 0, 100), 20)
    .option('--destination-outage-seconds <n>', 'the flaky destination answers 503 to everything from the start', count('--destination-outage-seconds', 0, 6 * 3600), 3600)
    .addHelpText('after', examples(['mtc soak', 'mtc soak --hours 4 --kills 2 --destination-outage-seconds 60', 'mtc soak --late-row-fraction 0 --concurrent-backfills 0']))
    .action((opts: SoakOptions) => { setCode(import('../test/soak.js').then(({ runSoak }) => runSoak(opts, io))); });

  for (const c of program.commands) {
    c.showSuggestionAfterError(true).showHelpAfterError(`(mtc ${c.name()} --help for usage and examples)`).exitOverride()
      .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  }
  return program;
}

/** Runs `mtc <argv>`; resolves the exit code (never exits the process itself). */
export async function main(argv: string[], io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const old = nodeTooOld();
  if (old) {
    io.err(old);
    return 2;
  }
  let code: number | Promise<number> = 0;
  const program = buildProgram(io, env, (c) => { code = c; });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return await code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version end with code 0; a usage problem (already printed) with 2.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
    }
    if (err instanceof UsageError) {
      io.err(`mtc: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(`mtc: the configuration has errors:\n${err.message.split('\n').map((l) => `  ${l}`).join('\n')}`);
      return 2;
    }
    io.err(`mtc: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`mtc: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
