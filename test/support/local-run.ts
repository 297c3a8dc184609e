/**
 * Local runs of the real handlers for the e2e and telemetry tests: test Azurite, a fresh table
 * prefix and page queue, the test's clock, a free port, and no timers (the tests run the plan
 * timer themselves).
 */
import { startLocalRun, SIMULATOR_SECRET_ENV, type LocalRun, type LocalRunOptions } from '../../local/run';
import type { Simulator } from '../../simulator';
import type { ManualClock } from '../../shared/time/clock';
import { testStorage, uniqueName } from './azurite';

export async function startTestRun(clock: ManualClock, names: { tables: string; queue: string }, o: Pick<LocalRunOptions, 'simulatorOptions' | 'configDoc'>): Promise<LocalRun> {
  process.env.MTC_TABLE_PREFIX = uniqueName(names.tables);
  process.env.MTC_PAGE_QUEUE = uniqueName(names.queue);
  return startLocalRun({ storageConnectionString: await testStorage(), clock, port: 0, enableTimers: false, ...o });
}

/** The Graph source fields of the simulator's first tenant (client secret auth). */
export function simulatorGraphSource(sim: Simulator): Record<string, unknown> {
  return {
    tenantId: sim.tenants[0]!.tenantId,
    endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
    auth: { method: 'clientSecret', clientId: sim.tenants[0]!.clientId, clientSecretRef: `env:${SIMULATOR_SECRET_ENV}` },
  };
}

/** `times` live polls: the clock moves `stepMs`, the plan timer runs, the queues drain. */
export async function pollLive(run: LocalRun, clock: ManualClock, times: number, stepMs = 5 * 60_000): Promise<void> {
  for (let i = 0; i < times; i++) {
    clock.advance(stepMs);
    await run.host.runTimer('plan');
    await run.host.drainUntilIdle({ timeoutMs: 60_000 });
  }
}

/**
 * Drains the local host's queues while the clock moves `stepMs` every 25 ms of real time, so retry
 * and budget delays come due.
 */
export async function drainWithClock(run: LocalRun, clock: ManualClock, o: { stepMs: number; timeoutMs: number; quietMs: number }): Promise<void> {
  let draining = true;
  const ticker = (async () => {
    while (draining) {
      await new Promise((r) => setTimeout(r, 25));
      clock.advance(o.stepMs);
    }
  })();
  try {
    await run.host.drainUntilIdle({ timeoutMs: o.timeoutMs, quietMs: o.quietMs });
  } finally {
    draining = false;
    await ticker;
  }
}
