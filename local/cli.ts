/**
 * `npm start [-- options]`: the collector, locally, on its built-in defaults.
 *
 *   npm start                       embedded Azurite + the bundled simulator + NDJSON files in ./out;
 *                                   runs until Ctrl-C, planning every minute
 *   npm start -- --once             plan once, drain the queues, print a summary, exit
 *                                   (exit code 1 if any slice is parked)
 *   npm start -- --config my.json   use a real configuration (a real tenant, or any endpoints)
 */
import { parseArgs } from 'node:util';
import { runOnce, startLocalRun, summarise, type LocalRun } from './run';

const HELP = `Usage: npm start -- [options]

  --once                 plan once, drain the queues until idle, print a summary and exit
  --config <file>        a configuration file (default: the bundled simulator and ./out)
  --out <dir>            output folder of the default file destination (default ./out)
  --port <n>             HTTP port of the local Functions host (default 7071, 0 = any free port)
  --start <time>         where collection starts with the simulator (default -2h@h)
  --rows-per-day <n>     simulator traffic volume (default 50000)
  --speed <factor>       simulator clock speed (default 1 = real time)
  --storage-dir <dir>    keep Azurite's data in this folder between runs (default in memory)
  --verbose              log every invocation
  -h, --help             this text

Environment: JobsStorage (use that storage instead of embedded Azurite), MTC_PLAN_SCHEDULE.
`;

function fail(message: string): never {
  process.stderr.write(`npm start: ${message}\n\n${HELP}`);
  process.exit(2);
}

function positiveNumber(name: string, value: string | undefined, integer = true): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) fail(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ 0, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        once: { type: 'boolean', default: false },
        config: { type: 'string' },
        out: { type: 'string' },
        port: { type: 'string' },
        start: { type: 'string' },
        'rows-per-day': { type: 'string' },
        speed: { type: 'string' },
        'storage-dir': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (args.help) {
    process.stdout.write(HELP);
    return;
  }
  if (args.config && (args.start || args['rows-per-day'] || args.speed)) fail('--start, --rows-per-day and --speed apply to the bundled simulator; with --config, set start in the configuration');
  const port = positiveNumber('port', args.port);
  const speed = positiveNumber('speed', args.speed, false);
  if (speed === 0) fail('--speed must be above 0');
  const rowsPerDay = positiveNumber('rows-per-day', args['rows-per-day']);
  const verbose = args.verbose;

  let run: LocalRun;
  try {
    run = await startLocalRun({
      ...(args.config ? { configPath: args.config } : {}),
      ...(args.out ? { outDir: args.out } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(speed !== undefined ? { speed } : {}),
      ...(rowsPerDay !== undefined ? { rowsPerDay } : {}),
      ...(args.start ? { start: args.start } : {}),
      ...(args['storage-dir'] ? { storageLocation: args['storage-dir'] } : {}),
      enableTimers: !args.once,
      log: (level, message, data) => {
        if (level === 'debug' && !verbose) return;
        const line = `[host] ${message}${data && verbose ? ` ${JSON.stringify(data)}` : ''}`;
        if (level === 'error' || level === 'warn') console.error(line);
        else if (verbose || level === 'info') console.log(line);
      },
    });
  } catch (err) {
    process.stderr.write(`npm start: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  }

  const { host, simulator, config } = run;
  console.log(`message-trace-collector running locally (${run.clock.describe()})`);
  if (simulator) console.log(`  tenant:        bundled simulator at ${simulator.baseUrl} (tenant ${simulator.tenants[0]!.tenantId})`);
  for (const s of config.sources) console.log(`  source:        ${s.id} -> ${s.destinations.join(', ')}`);
  for (const d of config.destinations) console.log(`  destination:   ${d.id} (${d.type}${d.type === 'file' ? ` ${d.directory}` : ''})`);
  console.log(`  HTTP API:      ${host.httpBaseUrl}  (header x-functions-key: ${host.functionKey})`);
  console.log(`  status:        curl -s ${host.httpBaseUrl}/status -H 'x-functions-key: ${host.functionKey}'`);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) process.exit(code || 130);
    stopping = true;
    console.log('stopping…');
    await run.stop().catch((err) => console.error(`stop failed: ${(err as Error).message}`));
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  if (!args.once) {
    console.log('planning every minute; Ctrl-C stops');
    return;
  }
  try {
    await runOnce(run);
  } catch (err) {
    console.error(`the run did not finish: ${(err as Error).message}`);
    await run.stop();
    process.exit(1);
  }
  const summary = await summarise();
  console.log('\nsummary');
  for (const s of summary.sources) {
    console.log(`  source ${s.id}: rows fetched ${s.rowsFetched}, requests ${s.requests}, slices done ${s.slices.done}, parked ${s.slices.parked}, pending ${s.slices.pending + s.slices.fetching}${s.completedUntil ? `, complete until ${s.completedUntil}` : ''}`);
    for (const d of s.destinations) console.log(`    destination ${d.id}: rows forwarded ${d.rowsForwarded}`);
  }
  await run.stop();
  process.exit(summary.parked > 0 ? 1 : 0);
}

void main();
