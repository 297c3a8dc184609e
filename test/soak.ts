/**
 * `mtc soak` (`npm run soak`): the long fault-injection run (not part of the tests): at least 1M
 * rows, every fault kind, several process kills, and every real-data shape and race on by default
 * (set one to 0 to leave it out): distribution-list mails, rows that appear inside an already-read
 * window (found by a later read: a page fetched again, the settle re-reads at +10m and +1h),
 * statuses that change between fetches, two collectors racing in the final phase with overlapping
 * backfill POSTs at their HTTP APIs (exactly one may be admitted), and the flaky destination down
 * for an hour from the start (the soak then lasts over an hour). Prints the same table as the CI run.
 * The options are declared once, in cli/mtc.ts (`mtc soak --help`).
 */
import { startAzurite } from '../local/azurite';
import { runFaultSuite } from './support/fault-suite';
import type { Io } from '../cli/io';

export interface SoakOptions {
  seed: number;
  rowsPerDay: number;
  hours: number;
  kills: number;
  distributionListsPerDay: number;
  lateRowFraction: number;
  statusChangeFraction: number;
  concurrentFinalRuns: number;
  concurrentBackfills: number;
  destinationOutageSeconds: number;
}

/** Runs the soak; resolves 0 when nothing was lost or duplicated and every check held, else 1. */
export async function runSoak(o: SoakOptions, io: Pick<Io, 'out'>): Promise<number> {
  const azurite = await startAzurite();
  try {
    const started = Date.now();
    const r = await runFaultSuite({
      storageConnectionString: azurite.connectionString,
      seed: o.seed,
      rowsPerDay: o.rowsPerDay,
      hours: o.hours,
      pageSize: 5000,
      apiFaultRate: 0.03,
      destinationFaultRate: 0.03,
      kills: o.kills,
      maxRunBeforeKillMs: 20_000,
      traffic: {
        distributionLists: { perDay: o.distributionListsPerDay },
        rereadChanges: { lateRowFraction: o.lateRowFraction, statusChangeFraction: o.statusChangeFraction },
      },
      settle: { rereads: ['10m', '1h'], bucket: '1h' },
      concurrentFinalRuns: o.concurrentFinalRuns,
      concurrentBackfills: o.concurrentBackfills,
      destinationOutageMs: o.destinationOutageSeconds * 1000,
      log: (l) => io.out(l),
      timeoutMs: 3 * 3600_000,
    });
    io.out(r.table);
    io.out(`secret leaks: ${r.secretLeaks.length ? r.secretLeaks.join(', ') : 'none'}; ${Math.round((Date.now() - started) / 1000)} s`);
    io.out(`kill-window audit: ${r.killWindowViolations.length ? r.killWindowViolations.join('; ') : 'sound'}`);
    const problems: string[] = [];
    for (const d of r.destinations) {
      if (d.lost) problems.push(`${d.id} lost ${d.lost}`);
      if (d.unexplainedDuplicates) problems.push(`${d.id} duplicated ${d.unexplainedDuplicates}`);
      if (d.unexpected) problems.push(`${d.id} holds ${d.unexpected} rows outside the range`);
    }
    if (r.parked) problems.push(`${r.parked} parked slices`);
    if (o.concurrentBackfills > 0 && (r.backfillAnswers['202'] !== 1 || (r.backfillAnswers['409'] ?? 0) !== o.concurrentBackfills - 1)) {
      problems.push(`the concurrent backfills were answered ${JSON.stringify(r.backfillAnswers)}; exactly one 202 and the rest 409 expected`);
    }
    if (r.secretLeaks.length) problems.push(`secrets leaked into ${r.secretLeaks.join(', ')}`);
    if (r.killWindowViolations.length) problems.push('the kill-window audit failed');
    if (problems.length) io.out(`FAILED: ${problems.join('; ')}`);
    return problems.length ? 1 : 0;
  } finally {
    await azurite.stop();
  }
}
