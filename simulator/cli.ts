/**
 * Command line: `mtc simulator --port 8443 --https --tenants 2 --rows-per-day 100000` (or
 * `node dist/simulator/cli.js` with the same options; commander parses both, declared once here).
 * Starts the simulator, prints its URLs, each tenant's credentials and a ready-to-paste curl
 * sequence, and runs until Ctrl-C. A bad option exits with code 2 and a message naming it.
 */
import { Command, InvalidArgumentError } from 'commander';
import { AcceleratedClock, SystemClock, type Clock } from '../shared/time/clock';
import { FAULT_KINDS, type FaultKind, type FaultRule } from './faults';
import { parseInstant } from './instant';
import { DISTRIBUTION_LIST_LEAD_MS, parseSimulatorOptions, SimulatorOptionsError, type SimulatorOptions, type SimulatorTenantOptions } from './options';
import { defaultTrafficOptions, type DistributionListOptions } from './traffic';
import type { Simulator } from './server';

export class CliUsageError extends Error {}

/** A commander parser that checks a number and names the option in its message. */
function numberArg(flag: string, check: (n: number) => boolean, what: string): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`Option ${flag} must be ${what}, got '${raw}'`);
    return n;
  };
}

function faultArg(v: string, prev: FaultRule[] = []): FaultRule[] {
  const m = /^([^:]+)(?::(.+))?$/.exec(v);
  if (!m) throw new InvalidArgumentError(`Option --fault needs a value kind:probability, e.g. --fault 503:0.05; kinds: ${FAULT_KINDS.join(', ')}`);
  const kind = m[1]!;
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new InvalidArgumentError(`Option --fault has an unknown kind '${kind}'; use one of ${FAULT_KINDS.join(', ')}`);
  const p = m[2] === undefined ? 1 : Number(m[2]);
  if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError(`Option --fault probability must be a number from 0 to 1, got '${m[2]}'`);
  return [...prev, { kind: kind as FaultKind, probability: p }];
}

function recipientsArg(v: string): { recipientsMin: number; recipientsMax: number } {
  const m = /^(\d+)-(\d+)$/.exec(v);
  const [min, max] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || !(min >= 1 && max <= 100_000 && min <= max)) throw new InvalidArgumentError(`Option --distribution-list-recipients must be <min>-<max> with 1 <= min <= max <= 100000, e.g. 1000-5000, got '${v}'`);
  return { recipientsMin: min, recipientsMax: max };
}

interface ListArg { recipients: number; at?: string }
function listArg(v: string, prev: ListArg[] = []): ListArg[] {
  const m = /^(\d+)(?:@(.+))?$/.exec(v);
  const recipients = m ? Number(m[1]) : NaN;
  if (!m || !(recipients >= 1 && recipients <= 100_000)) throw new InvalidArgumentError(`Option --distribution-list must be <recipients>[@<ISO instant>] with 1 to 100000 recipients, e.g. 3000 or 3000@2026-03-01T10:00:00.0000000Z, got '${v}'`);
  if (m[2] !== undefined && !parseInstant(m[2])) throw new InvalidArgumentError(`Option --distribution-list has an instant that is not ISO 8601: '${m[2]}'; use e.g. 2026-03-01T10:00:00.0000000Z`);
  return [...prev, { recipients, ...(m[2] !== undefined ? { at: m[2] } : {}) }];
}

/** The simulator's options as commander parsed them (simulatorCommand). */
export interface SimulatorFlags {
  port?: number; host?: string; https?: boolean; seed?: number; rowsPerDay?: number; tenants?: number; latencyMs?: number; speed?: number;
  fault?: FaultRule[]; distributionListsPerDay?: number; distributionListRecipients?: { recipientsMin: number; recipientsMax: number };
  distributionList?: ListArg[]; lateRowFraction?: number; statusChangeFraction?: number;
  detailRetentionDays?: number; detailBeyondRetention?: 'empty' | 'badRequest'; detailPageSize?: number;
}

function beyondRetentionArg(v: string): 'empty' | 'badRequest' {
  if (v !== 'empty' && v !== 'badRequest') throw new InvalidArgumentError(`Option --detail-beyond-retention must be empty or badRequest, got '${v}'`);
  return v;
}

/**
 * The `simulator` command's options, declared once: `mtc simulator` adds this command, and
 * `node dist/simulator/cli.js` parses with it. Every value is checked by its parser, which names
 * the option in its message.
 */
export function simulatorCommand(name = 'simulator'): Command {
  const fraction = (flag: string) => numberArg(flag, (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1');
  return new Command(name)
    .description('run the Message Trace simulator (Entra ID + Graph + RWS stand-in) until Ctrl-C')
    .option('--port <n>', 'port to listen on (default 0: a free port)', numberArg('--port', (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'an integer from 0 to 65535'))
    .option('--host <address>', 'address to listen on (default 127.0.0.1)')
    .option('--https', 'serve https with a generated self-signed certificate')
    .option('--seed <n>', 'seed of all generated data (default 1)', numberArg('--seed', (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer from 0 to 4294967295'))
    .option('--rows-per-day <n>', 'trace rows per tenant per day (default 50000)', numberArg('--rows-per-day', (n) => Number.isInteger(n) && n >= 0 && n <= 50_000_000, 'an integer from 0 to 50000000'))
    .option('--tenants <n>', 'number of tenants (default 1)', numberArg('--tenants', (n) => Number.isInteger(n) && n >= 1 && n <= 1000, 'an integer from 1 to 1000'))
    .option('--latency-ms <n>', 'added latency per request, in clock time (default 0)', numberArg('--latency-ms', (n) => n >= 0, 'a number of milliseconds >= 0'))
    .option('--speed <factor>', 'run the clock this many times faster than real time (default 1)', numberArg('--speed', (n) => n > 0, 'a positive number (1 = real time)'))
    .option('--fault <kind:probability>', `inject a fault, repeatable; kinds: ${FAULT_KINDS.join(', ')}`, faultArg)
    .option('--distribution-lists-per-day <n>', 'average mails per day to a large distribution list per tenant, every recipient row at one instant (default 0)',
      numberArg('--distribution-lists-per-day', (n) => n >= 0 && n <= 100_000, 'a number of mails per day from 0 to 100000'))
    .option('--distribution-list-recipients <min-max>', 'recipients of those mails (default 1000-5000)', recipientsArg)
    .option('--distribution-list <recipients[@instant]>', 'one such mail at an ISO instant (default: 45 minutes before start); repeatable', listArg)
    .option('--late-row-fraction <f>', 'share of rows hidden until a page covering them was served (0..1, default 0)', fraction('--late-row-fraction'))
    .option('--status-change-fraction <f>', 'share of rows whose status changes once a page served them (0..1, default 0)', fraction('--status-change-fraction'))
    .option('--detail-retention-days <n>', 'getDetailsByRecipient: days a row keeps its details (default 90)',
      numberArg('--detail-retention-days', (n) => n > 0 && n <= 3650, 'a number of days above 0, at most 3650'))
    .option('--detail-beyond-retention <empty|badRequest>', 'getDetailsByRecipient for a row past the retention: {"value":[]} (empty, default) or a 400', beyondRetentionArg)
    .option('--detail-page-size <n>', 'getDetailsByRecipient: events per page with @odata.nextLink (default 0: one page)',
      numberArg('--detail-page-size', (n) => Number.isInteger(n) && n >= 0 && n <= 100_000, 'an integer from 0 to 100000'));
}

/** Simulator options from the parsed flags. */
export function simulatorOptionsFrom(f: SimulatorFlags, now: () => number = Date.now): SimulatorOptions {
  const options: SimulatorOptions = {};
  if (f.https) options.https = true;
  if (f.port !== undefined) options.port = f.port;
  if (f.host !== undefined) options.host = f.host;
  if (f.seed !== undefined) options.seed = f.seed;
  if (f.latencyMs !== undefined) options.latency = { meanMs: f.latencyMs };
  if (f.detailRetentionDays !== undefined || f.detailBeyondRetention !== undefined || f.detailPageSize !== undefined) {
    options.graph = {
      ...(f.detailRetentionDays !== undefined ? { detailRetentionDays: f.detailRetentionDays } : {}),
      ...(f.detailBeyondRetention !== undefined ? { detailBeyondRetention: f.detailBeyondRetention } : {}),
      ...(f.detailPageSize !== undefined ? { detailPageSize: f.detailPageSize } : {}),
    };
  }
  const traffic: NonNullable<SimulatorTenantOptions['traffic']> = {};
  if (f.distributionListsPerDay !== undefined || f.distributionListRecipients || f.distributionList) {
    const lists: DistributionListOptions = { ...defaultTrafficOptions(0).distributionLists, at: [] };
    if (f.distributionListsPerDay !== undefined) lists.perDay = f.distributionListsPerDay;
    if (f.distributionListRecipients) Object.assign(lists, f.distributionListRecipients);
    for (const l of f.distributionList ?? []) lists.at.push({ at: l.at ?? new Date(now() - DISTRIBUTION_LIST_LEAD_MS).toISOString(), recipients: l.recipients });
    traffic.distributionLists = lists;
  }
  if (f.lateRowFraction !== undefined || f.statusChangeFraction !== undefined) {
    traffic.rereadChanges = {
      ...defaultTrafficOptions(0).rereadChanges,
      ...(f.lateRowFraction !== undefined ? { lateRowFraction: f.lateRowFraction } : {}),
      ...(f.statusChangeFraction !== undefined ? { statusChangeFraction: f.statusChangeFraction } : {}),
    };
  }
  const hasTraffic = Object.keys(traffic).length > 0;
  if (f.tenants !== undefined || f.rowsPerDay !== undefined || hasTraffic) {
    options.tenants = Array.from({ length: f.tenants ?? 1 }, () => ({
      ...(f.rowsPerDay === undefined ? {} : { rowsPerDay: f.rowsPerDay }),
      ...(hasTraffic ? { traffic: structuredClone(traffic) } : {}),
    }));
  }
  if (f.fault?.length) options.faults = f.fault;
  let clock: Clock = new SystemClock();
  if (f.speed !== undefined && f.speed !== 1) clock = new AcceleratedClock(now(), f.speed);
  options.clock = clock;
  return options;
}

/**
 * Parses argv (without node and script) with simulatorCommand into simulator options. Throws
 * CliUsageError naming the option (an unknown one, a missing or bad value).
 */
export function parseCliArgs(argv: readonly string[], now: () => number = Date.now): { options: SimulatorOptions } {
  const cmd = simulatorCommand().exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} }).allowExcessArguments(false);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === 'commander.optionMissingArgument') {
      const flag = /'(--[a-z-]+)/.exec(e.message)?.[1] ?? 'an option';
      throw new CliUsageError(`Option ${flag} needs a value (${e.message.replace(/^error: /, '')})`);
    }
    throw new CliUsageError(e.message.replace(/^error: /, ''));
  }
  return { options: simulatorOptionsFrom(cmd.opts<SimulatorFlags>(), now) };
}

function curlSequence(sim: Simulator, t: Simulator['tenants'][number]): string {
  const k = sim.caCertificatePem ? ' --cacert sim-ca.pem' : '';
  return [
    `TOKEN=$(curl -s${k} -X POST '${sim.authorityHost}/${t.tenantId}/oauth2/v2.0/token' \\`,
    `  -d 'grant_type=client_credentials' -d 'client_id=${t.clientId}' \\`,
    `  --data-urlencode 'client_secret=${t.clientSecret}' -d 'scope=https://graph.microsoft.com/.default' \\`,
    `  | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `curl -s${k} -H "Authorization: Bearer $TOKEN" '${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces?$top=5'`,
  ].join('\n');
}

/** Starts the simulator with checked options, prints how to use it, and runs until SIGINT or SIGTERM. */
export async function runSimulator(options: SimulatorOptions, out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  try {
    parseSimulatorOptions(options);
  } catch (err) {
    if (err instanceof SimulatorOptionsError) {
      process.stderr.write(`simulator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { startSimulator } = await import('./server.js');
  const sim = await startSimulator(options);
  const lines = [
    `Message Trace simulator listening (${sim.clock.describe()})`,
    `  authority (Entra): ${sim.authorityHost}`,
    `  Graph:             ${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces`,
    `  RWS:               ${sim.rwsBaseUrl}/MessageTrace`,
  ];
  if (sim.caCertificatePem) lines.push('', 'CA certificate (save as sim-ca.pem and trust it):', sim.caCertificatePem.trim());
  for (const t of sim.tenants) {
    lines.push('', `Tenant ${t.tenantId}`, `  client id:     ${t.clientId}`, `  client secret: ${t.clientSecret}`, `  rows per day:  ${t.rowsPerDay}`, '', curlSequence(sim, t));
  }
  lines.push('', 'Ready. Press Ctrl-C to stop.');
  out(lines.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await sim.stop();
  out('Simulator stopped.\n');
  return 0;
}

/** `node dist/simulator/cli.js [options]`: the same command as `mtc simulator`. */
export async function main(argv: readonly string[]): Promise<number> {
  let options: SimulatorOptions | undefined;
  const cmd = simulatorCommand('simulator').exitOverride().showSuggestionAfterError(true)
    .action((flags: SimulatorFlags) => { options = simulatorOptionsFrom(flags); });
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  return options ? runSimulator(options) : 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`simulator: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
