/**
 * The simulator in its own process for the benchmark, so the collector's CPU time and RSS are
 * measured alone and the two use both cores. The parent sends the simulator options (the clock as
 * startAt, factor and the parent's wall time at the clock's start) and asks for stats over IPC.
 */
import { startSimulator, type Simulator, type SimulatorOptions } from '../simulator';
import { AcceleratedClock } from '../shared/time/clock';

export type SimRequest =
  | { type: 'start'; clock: { startAt: number; factor: number; wallAtStart: number }; options: Omit<SimulatorOptions, 'clock'> }
  | { type: 'stats'; id: number }
  | { type: 'count'; id: number; tenantId: string; startMs: number; endMs: number }
  | { type: 'stop' };

export type SimReply =
  | { type: 'ready'; baseUrl: string; tenants: { tenantId: string; clientId: string; clientSecret: string }[] }
  | { type: 'stats'; id: number; stats: Record<string, { requests: number; listRequests: number; throttled: number }> }
  | { type: 'count'; id: number; count: number }
  | { type: 'error'; message: string };

let sim: Simulator | undefined;

function reply(m: SimReply): void {
  process.send?.(m);
}

process.on('message', (raw: unknown) => {
  const m = raw as SimRequest;
  void (async () => {
    try {
      if (m.type === 'start') {
        // Same clock as the parent: its clock time at our start is startAt + (wall elapsed) x factor.
        const clock = new AcceleratedClock(m.clock.startAt + (Date.now() - m.clock.wallAtStart) * m.clock.factor, m.clock.factor);
        sim = await startSimulator({ ...m.options, clock });
        reply({ type: 'ready', baseUrl: sim.baseUrl, tenants: sim.tenants.map((t) => ({ tenantId: t.tenantId, clientId: t.clientId, clientSecret: t.clientSecret })) });
      } else if (m.type === 'stats') {
        const stats: Record<string, { requests: number; listRequests: number; throttled: number }> = {};
        for (const t of sim?.tenants ?? []) {
          const s = sim!.stats(t.tenantId);
          stats[t.tenantId] = { requests: s.requests, listRequests: s.listRequests, throttled: s.throttled };
        }
        reply({ type: 'stats', id: m.id, stats });
      } else if (m.type === 'count') {
        reply({ type: 'count', id: m.id, count: sim!.countGroundTruth(m.tenantId, m.startMs, m.endMs) });
      } else if (m.type === 'stop') {
        await sim?.stop();
        process.exit(0);
      }
    } catch (err) {
      reply({ type: 'error', message: (err as Error).message });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
