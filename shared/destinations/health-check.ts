/**
 * Destination health checks at start-up (issue 7; Vector's component spec: a sink's health check
 * runs once when the sink starts, reports its result, and does not hold up or retry forever).
 *
 * `checkDestinations` calls each destination's optional `healthCheck()` with a timeout, in
 * parallel, and reports every result as health: a log line (warn on failure, with the error's
 * message and fix, never a secret) and a custom event `mtc.destination.health`. It never throws
 * and never retries: a failing destination is reported once, and the page worker's own retry and
 * spill machinery handles it from then on. Call it once per process start, after the runtime is
 * built: the local run start-up and the Functions app start hook.
 */
import type { Destination } from './destination';
import type { Logger } from '../log';
import type { Telemetry } from '../telemetry';
import { asCollectorError } from '../errors';

/** The custom event a destination health check emits. */
export const DESTINATION_HEALTH_EVENT = 'mtc.destination.health';

/** The default time one health check may take. */
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 10_000;

export interface DestinationHealth {
  id: string;
  ok: boolean;
  /** `true` when the destination has no health check (nothing was sent). */
  skipped?: boolean;
  /** What failed, in words (the CollectorError message; never a secret). */
  error?: string;
  /** The error code (e.g. `Http401`, `Timeout`). */
  code?: string;
  /** What to do, when the destination said. */
  fix?: string;
  durationMs: number;
}

export interface CheckDestinationsOptions {
  /** Time one check may take, in milliseconds (default 10 s; 1 ms to 5 min, other values fall back to the default with a warning). */
  timeoutMs?: number;
  /** Milliseconds since some origin, for the duration only (default `performance.now`). */
  now?: () => number;
}

function validTimeout(value: number | undefined, log: Logger): number {
  if (value === undefined) return DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
  if (!Number.isFinite(value) || value < 1 || value > 300_000) {
    log.log('warn', `checkDestinations: timeoutMs must be a number of milliseconds from 1 to 300000, got ${String(value)}; using ${DEFAULT_HEALTH_CHECK_TIMEOUT_MS}`);
    return DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
  }
  return value;
}

/**
 * Runs every destination's `healthCheck()` (in parallel, each bounded by `timeoutMs`) and reports
 * each result through `log` and `telemetry`. Resolves with one entry per destination, in input
 * order; never rejects (an invalid `timeoutMs` is logged and replaced by the default).
 */
export async function checkDestinations(
  destinations: Iterable<Destination> | ReadonlyMap<string, Destination>,
  log: Logger,
  telemetry: Pick<Telemetry, 'event'>,
  options: CheckDestinationsOptions = {},
): Promise<DestinationHealth[]> {
  const timeoutMs = validTimeout(options.timeoutMs, log);
  const now = options.now ?? (() => performance.now());
  const list = destinations instanceof Map ? [...(destinations as ReadonlyMap<string, Destination>).values()] : [...(destinations as Iterable<Destination>)];
  return Promise.all(list.map((d) => checkOne(d, timeoutMs, now, log, telemetry)));
}

async function checkOne(d: Destination, timeoutMs: number, now: () => number, log: Logger, telemetry: Pick<Telemetry, 'event'>): Promise<DestinationHealth> {
  const started = now();
  let result: DestinationHealth;
  if (typeof d.healthCheck !== 'function') {
    result = { id: d.id, ok: true, skipped: true, durationMs: 0 };
    log.log('debug', `destination ${d.id} (${d.type}) has no start-up health check`, { destination: d.id });
    return result;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    // The timeout is a plain timer on purpose: a health check is real network I/O, not clock time.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HealthCheckTimeout(timeoutMs)), timeoutMs);
      timer.unref?.();
    });
    await Promise.race([Promise.resolve().then(() => d.healthCheck!()), timeout]);
    result = { id: d.id, ok: true, durationMs: Math.round(now() - started) };
  } catch (err) {
    const durationMs = Math.round(now() - started);
    if (err instanceof HealthCheckTimeout) {
      result = {
        id: d.id, ok: false, code: 'Timeout', durationMs,
        error: `the health check did not answer within ${timeoutMs} ms`,
        fix: 'Check that the destination\'s address is reachable from the function app (network rules, private endpoints, DNS).',
      };
    } else {
      const e = asCollectorError(err);
      result = { id: d.id, ok: false, code: e.code, error: e.message, durationMs, ...(e.fix ? { fix: e.fix } : {}) };
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
  report(d, result, log, telemetry);
  return result;
}

function report(d: Destination, r: DestinationHealth, log: Logger, telemetry: Pick<Telemetry, 'event'>): void {
  try {
    telemetry.event(DESTINATION_HEALTH_EVENT, {
      destination: d.id, type: d.type, ok: r.ok, durationMs: r.durationMs,
      ...(r.code ? { code: r.code } : {}), ...(r.error ? { message: r.error } : {}), ...(r.fix ? { fix: r.fix } : {}),
    });
    if (r.ok) {
      log.log('info', `destination ${d.id} (${d.type}): health check passed in ${r.durationMs} ms`, { destination: d.id, type: d.type });
    } else {
      log.log('warn', `destination ${d.id} (${d.type}): health check failed: ${r.error ?? 'unknown error'}${r.fix ? ` Fix: ${r.fix}` : ''} Pages for it are retried and spilled as usual; the check is not repeated.`, {
        destination: d.id, type: d.type, code: r.code,
      });
    }
  } catch {
    // Reporting must not turn a health result into a start-up failure.
  }
}

class HealthCheckTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`health check timed out after ${timeoutMs} ms`);
  }
}
