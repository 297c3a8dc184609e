/**
 * `npm run soak`: the long fault-injection run (not part of the tests): at least 1M rows, every
 * fault kind, several process kills. Prints the same table as the CI run.
 * Every real-data shape and race is on by default (set one to 0 to leave it out):
 * Options: --seed <n> --rows-per-day <n> --hours <n> --kills <n>
 *   real-data shapes (simulator/README.md): --distribution-lists-per-day <n> (recipients 1000-5000,
 *   one instant each; default 48), --late-row-fraction <f> (rows that appear inside an already-read
 *   window; found by settle re-reads at +10m and +1h; default 0.01), --status-change-fraction <f>
 *   (default 0.02)
 *   control planes and outages: --concurrent-final-runs <n> (collectors racing in the final phase,
 *   default 2), --concurrent-backfills <n> (overlapping backfill POSTs at once over their HTTP APIs,
 *   default 20; exactly one may be admitted), --destination-outage-seconds <n> (the flaky
 *   destination down from the start, default 3600: the soak then lasts over an hour)
 */
import { parseArgs } from 'node:util';
import { startAzurite } from '../local/azurite';
import { runFaultSuite } from './support/fault-suite';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    seed: { type: 'string', default: '7' },
    'rows-per-day': { type: 'string', default: '1000000' },
    hours: { type: 'string', default: '26' },
    kills: { type: 'string', default: '8' },
    'distribution-lists-per-day': { type: 'string', default: '48' },
    'late-row-fraction': { type: 'string', default: '0.01' },
    'status-change-fraction': { type: 'string', default: '0.02' },
    'concurrent-final-runs': { type: 'string', default: '2' },
    'concurrent-backfills': { type: 'string', default: '20' },
    'destination-outage-seconds': { type: 'string', default: '3600' },
  } });
  const num = (name: keyof typeof values, min: number, max: number): number => {
    const n = Number(values[name]);
    if (!(n >= min && n <= max)) throw new Error(`--${name} must be a number from ${min} to ${max}, got '${String(values[name])}'`);
    return n;
  };
  const traffic = {
    distributionLists: { perDay: num('distribution-lists-per-day', 0, 100_000) },
    rereadChanges: { lateRowFraction: num('late-row-fraction', 0, 1), statusChangeFraction: num('status-change-fraction', 0, 1) },
  };
  const azurite = await startAzurite();
  try {
    const started = Date.now();
    const r = await runFaultSuite({
      storageConnectionString: azurite.connectionString,
      seed: Number(values.seed),
      rowsPerDay: Number(values['rows-per-day']),
      hours: Number(values.hours),
      pageSize: 5000,
      apiFaultRate: 0.03,
      destinationFaultRate: 0.03,
      kills: Number(values.kills),
      maxRunBeforeKillMs: 20_000,
      traffic,
      concurrentFinalRuns: num('concurrent-final-runs', 1, 8),
      concurrentBackfills: num('concurrent-backfills', 0, 100),
      settle: { rereads: ['10m', '1h'], bucket: '1h' },
      destinationOutageMs: num('destination-outage-seconds', 0, 3600) * 1000,
      log: (l) => console.log(l),
      timeoutMs: 3 * 3600_000,
    });
    console.log(r.table);
    console.log(`secret leaks: ${r.secretLeaks.length ? r.secretLeaks.join(', ') : 'none'}; ${Math.round((Date.now() - started) / 1000)} s`);
    console.log(`kill-window audit: ${r.killWindowViolations.length ? r.killWindowViolations.join('; ') : 'sound'}`);
    const lost = r.destinations.reduce((a, d) => a + d.lost, 0);
    const dup = r.destinations.reduce((a, d) => a + d.unexplainedDuplicates, 0);
    const unexpected = r.destinations.reduce((a, d) => a + d.unexpected, 0);
    const backfillsWrong = num('concurrent-backfills', 0, 100) > 0
      && (r.backfillAnswers['202'] !== 1 || r.backfillAnswers['409'] !== num('concurrent-backfills', 0, 100) - 1);
    if (backfillsWrong) console.log(`FAILED: the concurrent backfills were answered ${JSON.stringify(r.backfillAnswers)}; exactly one 202 and the rest 409 expected`);
    process.exitCode = lost || dup || unexpected || r.parked || backfillsWrong || r.secretLeaks.length || r.killWindowViolations.length ? 1 : 0;
  } finally {
    await azurite.stop();
  }
}

void main();
