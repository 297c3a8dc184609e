/**
 * Progress of a continuous `mtc start`: per source, rows forwarded since start, rows per second
 * over the last interval, lag (now − completedUntil) and the tenant budget's use in its rolling
 * window. On a terminal one live line is rewritten every few seconds; otherwise (a log, a pipe)
 * one line per source every `everyMs`.
 */
import { getRuntime } from '../shared/runtime';
import { formatDuration } from '../shared/time/expressions';
import type { LocalRun } from '../local/run';
import { summarise } from '../local/run';
import type { Io } from './io';

export interface SourceProgress {
  id: string;
  state: string;
  forwarded: number;
  rowsPerSecond: number;
  lagMs?: number;
  budget?: { used: number; allowed: number };
}

/** One source's progress as text, e.g. `contoso Collecting: 1204 rows forwarded, 40.1 rows/s, lag 6m, budget 12/90`. */
export function formatProgress(p: SourceProgress): string {
  return `${p.id} ${p.state}: ${p.forwarded} rows forwarded, ${p.rowsPerSecond.toFixed(1)} rows/s, lag ${p.lagMs === undefined ? '–' : formatDuration(Math.max(0, Math.round(p.lagMs / 1000) * 1000))}${p.budget ? `, budget ${p.budget.used}/${p.budget.allowed}` : ''}`;
}

/** Reads progress now; `previous` (rows forwarded per source at `previousAt`) gives the rate. */
export async function readProgress(base: Map<string, number>, previous: Map<string, number>, elapsedMs: number): Promise<SourceProgress[]> {
  const rt = await getRuntime();
  const summary = await summarise();
  const now = rt.clock.now();
  const out: SourceProgress[] = [];
  for (const s of summary.sources) {
    const forwardedTotal = Math.max(0, ...s.destinations.map((d) => d.rowsForwarded));
    const forwarded = forwardedTotal - (base.get(s.id) ?? 0);
    const rate = elapsedMs > 0 ? (forwardedTotal - (previous.get(s.id) ?? forwardedTotal)) / (elapsedMs / 1000) : 0;
    const source = rt.config.sources.find((x) => x.id === s.id)!;
    let budget: SourceProgress['budget'];
    try {
      const u = await rt.budget.usage(source.tenantId);
      budget = { used: u.used, allowed: u.allowed };
    } catch {
      budget = undefined;
    }
    out.push({
      id: s.id, state: s.state, forwarded, rowsPerSecond: Math.max(0, rate),
      ...(s.completedUntil ? { lagMs: now - Date.parse(s.completedUntil) } : {}),
      ...(budget ? { budget } : {}),
    });
    previous.set(s.id, forwardedTotal);
  }
  return out;
}

/** Starts showing progress; stop() ends it (and ends the live line). */
export function startProgress(_run: LocalRun, io: Io, opts: { everyMs: number }): { stop(): void } {
  const live = io.isTTY && io.live !== undefined;
  const tickMs = live ? Math.min(opts.everyMs, 5_000) : opts.everyMs;
  const base = new Map<string, number>();
  const previous = new Map<string, number>();
  let lastAt = Date.now();
  let ready = false;
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      if (!ready) {
        for (const s of (await summarise()).sources) {
          const total = Math.max(0, ...s.destinations.map((d) => d.rowsForwarded));
          base.set(s.id, total);
          previous.set(s.id, total);
        }
        ready = true;
        lastAt = Date.now();
        return;
      }
      const now = Date.now();
      const list = await readProgress(base, previous, now - lastAt);
      lastAt = now;
      if (stopped) return;
      if (live) io.live!(list.map(formatProgress).join(' | '));
      else for (const p of list) io.out(`[progress] ${formatProgress(p)}`);
    } catch {
      // progress is best effort: a failed read shows nothing this time
    } finally {
      busy = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), tickMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      if (live) io.out('');
    },
  };
}
