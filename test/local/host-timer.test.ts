import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../shared/time/clock';
import { createLocalHost, type LocalHost } from '../../local/host';
import { testStorage, uniqueName } from '../support/azurite';
import { fixtureEntry, logCollector, waitFor } from './helpers';
import { probe } from './fixtures/probe';

interface TimerArg {
  isPastDue: boolean;
  schedule: { adjustForDST: boolean };
  scheduleStatus: { last: string; next: string; lastUpdated: string } | null;
}
const timerOf = (i: number) => probe.of('tick')[i]?.timer as TimerArg;
/** Lets the host's loop reach its next sleep (real time passes, the manual clock does not). */
const settle = () => new Promise((r) => setTimeout(r, 50));

let host: LocalHost | undefined;
after(async () => {
  await host?.stop();
});

async function makeHost(clock: ManualClock, env: Record<string, string>, logs = logCollector()): Promise<LocalHost> {
  host = await createLocalHost({
    entry: fixtureEntry,
    clock,
    http: { port: 0 },
    log: logs.log,
    env: { JobsStorage: await testStorage(), WORK_QUEUE: uniqueName('timerwork'), OUT_QUEUE: uniqueName('timerout'), ...env },
  });
  return host;
}

test('a timer fires at its NCRONTAB occurrences in clock time, with the schedule from %TICK_SCHEDULE%, and never overlaps itself', async () => {
  probe.reset();
  const hostId = uniqueName('hostid');
  const clock = new ManualClock(Date.parse('2026-01-01T00:03:00Z'));
  const logs = logCollector();
  const h = await makeHost(clock, { TICK_SCHEDULE: '0 */5 * * * *', AzureWebJobsStorage: await testStorage(), AzureFunctionsWebHost__hostid: hostId }, logs);
  assert.equal(h.functions.find((f) => f.name === 'tick')?.binding.schedule, '0 */5 * * * *');
  await h.start();
  await settle();
  assert.equal(probe.of('tick').length, 0, 'no run on startup');

  clock.set(Date.parse('2026-01-01T00:04:59Z'));
  await settle();
  assert.equal(probe.of('tick').length, 0, 'not before the occurrence');

  clock.set(Date.parse('2026-01-01T00:05:00Z'));
  await waitFor(() => probe.of('tick').length === 1, 'the 00:05 occurrence');
  assert.equal(timerOf(0).isPastDue, false);
  assert.equal(timerOf(0).schedule.adjustForDST, true);
  assert.equal(timerOf(0).scheduleStatus?.next, '2026-01-01T00:05:00.000Z');

  // A slow run: the clock passes two more occurrences meanwhile; they do not start a second run.
  probe.timerDelayMs = 300;
  clock.set(Date.parse('2026-01-01T00:10:00Z'));
  await waitFor(() => probe.of('tick').length === 2, 'the 00:10 occurrence');
  clock.set(Date.parse('2026-01-01T00:20:00Z'));
  await settle();
  await waitFor(() => probe.timerRunning === 0, 'the slow run to finish');
  probe.timerDelayMs = 0;
  await settle();
  assert.equal(probe.of('tick').length, 2, 'occurrences passed during a run are skipped, not queued');
  assert.equal(probe.timerMaxRunning, 1);
  assert.equal(timerOf(1).scheduleStatus?.last, '2026-01-01T00:05:00.000Z');

  // The next occurrence is computed after the run finished (clock 00:20): 00:25.
  clock.set(Date.parse('2026-01-01T00:24:59Z'));
  await settle();
  assert.equal(probe.of('tick').length, 2);
  clock.set(Date.parse('2026-01-01T00:25:00Z'));
  await waitFor(() => probe.of('tick').length === 3, 'the 00:25 occurrence');
  await host!.stop();
  host = undefined;

  // The host was down at 00:30; a new host in this process (same entry, same storage) runs it once, past due.
  probe.reset();
  clock.set(Date.parse('2026-01-01T00:42:00Z'));
  const h2 = await makeHost(clock, { TICK_SCHEDULE: '0 */5 * * * *', AzureWebJobsStorage: await testStorage(), AzureFunctionsWebHost__hostid: hostId });
  await h2.start();
  await waitFor(() => probe.of('tick').length === 1, 'the past-due run');
  assert.equal(timerOf(0).isPastDue, true);
  assert.equal(timerOf(0).scheduleStatus?.next, '2026-01-01T00:30:00.000Z');
  await settle();
  assert.equal(probe.of('tick').length, 1, 'one past-due run, not one per missed occurrence');
});

test('runTimer invokes a timer now with isPastDue as asked, and rejects when the handler fails without stopping the host', async () => {
  probe.reset();
  const h = host!;
  await h.runTimer('tick', { isPastDue: true });
  assert.equal(timerOf(0).isPastDue, true);
  await h.runTimer('tick');
  assert.equal(timerOf(1).isPastDue, false);

  const failedBefore = h.stats().invocations.tick!.failed;
  probe.timerThrows = true;
  await assert.rejects(h.runTimer('tick'), /tick failed on purpose/);
  probe.timerThrows = false;
  assert.equal(h.stats().invocations.tick!.failed, failedBefore + 1);
  await h.runTimer('tick');
  await assert.rejects(h.runTimer('work'), /"work" is not a timer function/);
});

test('only one local host runs per process', async () => {
  await assert.rejects(
    createLocalHost({ entry: fixtureEntry, http: { port: 0 }, env: { TICK_SCHEDULE: '0 0 * * * *' } }),
    /already running in this process/,
  );
});

test('a %SETTING% that is not set fails host creation naming the function and the setting', async () => {
  await host!.stop();
  host = undefined;
  delete process.env.TICK_SCHEDULE;
  await assert.rejects(
    createLocalHost({ entry: fixtureEntry, http: { port: 0 }, env: { JobsStorage: await testStorage() } }),
    (err: Error) => /Function "tick"/.test(err.message) && /%TICK_SCHEDULE%/.test(err.message),
  );
});
