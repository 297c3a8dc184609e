/**
 * Command line: `npm run simulator -- --port 8443 --https --tenants 2 --rows-per-day 100000`.
 * Starts the simulator, prints its URLs, each tenant's credentials and a ready-to-paste curl
 * sequence, and runs until Ctrl-C. A bad option exits with code 2 and a message naming it.
 */
import { AcceleratedClock, SystemClock, type Clock } from '../shared/time/clock';
import { FAULT_KINDS, type FaultKind, type FaultRule } from './faults';
import { parseInstant } from './instant';
import { DISTRIBUTION_LIST_LEAD_MS, parseSimulatorOptions, SimulatorOptionsError, type SimulatorOptions, type SimulatorTenantOptions } from './options';
import { defaultTrafficOptions, type DistributionListOptions } from './traffic';
import { startSimulator, type Simulator } from './server';

export const USAGE = `Usage: npm run simulator -- [options]
  --port <n>              port to listen on (default 0: a free port)
  --host <address>        address to listen on (default 127.0.0.1)
  --https                 serve https with a generated self-signed certificate
  --seed <n>              seed of all generated data (default 1)
  --rows-per-day <n>      trace rows per tenant per day (default 50000)
  --tenants <n>           number of tenants (default 1)
  --latency-ms <n>        added latency per request, in clock time (default 0)
  --speed <factor>        run the clock <factor> times faster than real time (default 1)
  --fault <kind:probability>  inject a fault, repeatable; kinds: ${FAULT_KINDS.join(', ')}
  --distribution-lists-per-day <n>   average mails per day to a large distribution list, every
                          recipient row stamped with the same instant (default 0)
  --distribution-list-recipients <min>-<max>  recipients of those mails (default 1000-5000)
  --distribution-list <recipients>[@<instant>]  one such mail at an ISO instant (default: 45 minutes
                          before start), repeatable
  --late-row-fraction <f> share of rows hidden until a page covering them was served (0..1, default 0)
  --status-change-fraction <f>  share of rows whose status changes once a page served them (0..1, default 0)
  --help                  show this help`;

export class CliUsageError extends Error {}

/** Parses argv (without node and script) into simulator options. Throws CliUsageError naming the option. */
export function parseCliArgs(argv: readonly string[], now: () => number = Date.now): { options: SimulatorOptions; help: boolean } {
  const options: SimulatorOptions = {};
  const faults: FaultRule[] = [];
  let rowsPerDay: number | undefined;
  let tenants: number | undefined;
  let speed: number | undefined;
  let help = false;
  const traffic: NonNullable<SimulatorTenantOptions['traffic']> = {};
  const lists = (): DistributionListOptions => (traffic.distributionLists ??= { ...defaultTrafficOptions(0).distributionLists, at: [] }) as DistributionListOptions;
  const rereads = () => (traffic.rereadChanges ??= { ...defaultTrafficOptions(0).rereadChanges });
  const numberOf = (name: string, raw: string | undefined, check: (n: number) => boolean, what: string): number => {
    if (raw === undefined || raw.startsWith('--')) throw new CliUsageError(`Option ${name} needs a value: ${what}`);
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || !check(n)) throw new CliUsageError(`Option ${name} must be ${what}, got '${raw}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--help':
      case '-h':
        help = true;
        break;
      case '--https':
        options.https = true;
        break;
      case '--port':
        options.port = numberOf('--port', value(), (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'an integer from 0 to 65535');
        break;
      case '--host': {
        const v = value();
        if (!v || v.startsWith('--')) throw new CliUsageError('Option --host needs a value: an address such as 127.0.0.1');
        options.host = v;
        break;
      }
      case '--seed':
        options.seed = numberOf('--seed', value(), (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer from 0 to 4294967295');
        break;
      case '--rows-per-day':
        rowsPerDay = numberOf('--rows-per-day', value(), (n) => Number.isInteger(n) && n >= 0 && n <= 50_000_000, 'an integer from 0 to 50000000');
        break;
      case '--tenants':
        tenants = numberOf('--tenants', value(), (n) => Number.isInteger(n) && n >= 1 && n <= 1000, 'an integer from 1 to 1000');
        break;
      case '--latency-ms':
        options.latency = { meanMs: numberOf('--latency-ms', value(), (n) => n >= 0, 'a number of milliseconds >= 0') };
        break;
      case '--speed':
        speed = numberOf('--speed', value(), (n) => n > 0, 'a positive number (1 = real time)');
        break;
      case '--fault': {
        const v = value();
        const m = v ? /^([^:]+)(?::(.+))?$/.exec(v) : null;
        if (!v || !m) throw new CliUsageError(`Option --fault needs a value kind:probability, e.g. --fault 503:0.05; kinds: ${FAULT_KINDS.join(', ')}`);
        const kind = m[1]!;
        if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new CliUsageError(`Option --fault has an unknown kind '${kind}'; use one of ${FAULT_KINDS.join(', ')}`);
        const p = m[2] === undefined ? 1 : Number(m[2]);
        if (!(p >= 0 && p <= 1)) throw new CliUsageError(`Option --fault probability must be a number from 0 to 1, got '${m[2]}'`);
        faults.push({ kind: kind as FaultKind, probability: p });
        break;
      }
      case '--distribution-lists-per-day':
        lists().perDay = numberOf(flag, value(), (n) => n >= 0 && n <= 100_000, 'a number of mails per day from 0 to 100000');
        break;
      case '--distribution-list-recipients': {
        const v = value();
        const m = v ? /^(\d+)-(\d+)$/.exec(v) : null;
        const [min, max] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
        if (!m || !(min >= 1 && max <= 100_000 && min <= max)) throw new CliUsageError(`Option --distribution-list-recipients must be <min>-<max> with 1 <= min <= max <= 100000, e.g. 1000-5000, got '${v ?? ''}'`);
        Object.assign(lists(), { recipientsMin: min, recipientsMax: max });
        break;
      }
      case '--distribution-list': {
        const v = value();
        const m = v ? /^(\d+)(?:@(.+))?$/.exec(v) : null;
        const recipients = m ? Number(m[1]) : NaN;
        if (!m || !(recipients >= 1 && recipients <= 100_000)) throw new CliUsageError(`Option --distribution-list must be <recipients>[@<ISO instant>] with 1 to 100000 recipients, e.g. 3000 or 3000@2026-03-01T10:00:00.0000000Z, got '${v ?? ''}'`);
        if (m[2] !== undefined && !parseInstant(m[2])) throw new CliUsageError(`Option --distribution-list has an instant that is not ISO 8601: '${m[2]}'; use e.g. 2026-03-01T10:00:00.0000000Z`);
        lists().at.push({ at: m[2] ?? new Date(now() - DISTRIBUTION_LIST_LEAD_MS).toISOString(), recipients });
        break;
      }
      case '--late-row-fraction':
        rereads().lateRowFraction = numberOf(flag, value(), (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1');
        break;
      case '--status-change-fraction':
        rereads().statusChangeFraction = numberOf(flag, value(), (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1');
        break;
      default:
        throw new CliUsageError(`Unknown option ${arg}. Run with --help for the list of options.`);
    }
  }
  const hasTraffic = Object.keys(traffic).length > 0;
  if (tenants !== undefined || rowsPerDay !== undefined || hasTraffic) {
    options.tenants = Array.from({ length: tenants ?? 1 }, () => ({
      ...(rowsPerDay === undefined ? {} : { rowsPerDay }),
      ...(hasTraffic ? { traffic: structuredClone(traffic) } : {}),
    }));
  }
  if (faults.length) options.faults = faults;
  let clock: Clock = new SystemClock();
  if (speed !== undefined && speed !== 1) clock = new AcceleratedClock(now(), speed);
  options.clock = clock;
  return { options, help };
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

export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCliArgs>;
  try {
    parsed = parseCliArgs(argv);
    parseSimulatorOptions(parsed.options);
  } catch (err) {
    if (err instanceof CliUsageError || err instanceof SimulatorOptionsError) {
      process.stderr.write(`simulator: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const sim = await startSimulator(parsed.options);
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
  process.stdout.write(lines.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await sim.stop();
  process.stdout.write('Simulator stopped.\n');
  return 0;
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
