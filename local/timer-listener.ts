/**
 * The timer trigger, after the real TimerListener (Azure/azure-webjobs-sdk-extensions
 * src/WebJobs.Extensions/Extensions/Timers/Listener/TimerListener.cs):
 * - NCRONTAB schedules (6 fields with seconds, or 5 fields) in UTC, or a TimeSpan interval;
 * - "now" and every wait come from the host's Clock;
 * - the next occurrence is computed after an invocation finishes, so a slow run delays the next
 *   one and never overlaps it (manual runs queue behind a scheduled one, too);
 * - with the schedule monitor (`useMonitor`, default on for intervals of a minute or more) the
 *   schedule status is kept, and an occurrence missed while the host was down fires once at start
 *   with `isPastDue: true`;
 * - `runOnStartup` only when the binding says so.
 */
import { CronExpressionParser } from 'cron-parser';
import type { Clock } from '../shared/time/clock';
import { parseTimeSpan } from './host-config';
import type { HostLog } from './invoker';

export interface TimerSchedule {
  /** The first occurrence strictly after `afterMs` (epoch ms, clock time). */
  nextAfter(afterMs: number): number;
  readonly expression: string;
  readonly kind: 'cron' | 'interval';
}

export interface ScheduleStatus {
  /** ISO instants as the host writes them. */
  last: string;
  next: string;
  lastUpdated: string;
}

export interface ScheduleStatusStore {
  get(functionName: string): Promise<ScheduleStatus | undefined>;
  set(functionName: string, status: ScheduleStatus): Promise<void>;
}

export class MemoryScheduleStatusStore implements ScheduleStatusStore {
  private readonly map = new Map<string, ScheduleStatus>();
  async get(name: string): Promise<ScheduleStatus | undefined> {
    return this.map.get(name);
  }
  async set(name: string, status: ScheduleStatus): Promise<void> {
    this.map.set(name, { ...status });
  }
}

/** Parses an NCRONTAB expression (5 or 6 fields) or a TimeSpan ("00:05:00"). `where` names the binding for errors. */
export function parseTimerSchedule(expression: string, where: string): TimerSchedule {
  const expr = expression.trim();
  if (/^(\d+\.)?\d{1,2}:\d{1,2}(:\d{1,2})?$/.test(expr)) {
    const interval = parseTimeSpan(expr, `${where} schedule`);
    if (interval <= 0) throw new Error(`${where}: a TimeSpan schedule must be positive, got "${expr}"`);
    return { expression: expr, kind: 'interval', nextAfter: (after) => after + interval };
  }
  const fields = expr.split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new Error(
      `${where}: schedule "${expression}" must be an NCRONTAB expression with 6 fields ` +
        `"{second} {minute} {hour} {day} {month} {day-of-week}" (or 5 without seconds), e.g. "0 */5 * * * *"`,
    );
  }
  try {
    CronExpressionParser.parse(expr, { currentDate: new Date(0), tz: 'UTC', strict: false }).next();
  } catch (err) {
    throw new Error(`${where}: schedule "${expression}" is not a valid NCRONTAB expression: ${(err as Error).message}`, { cause: err });
  }
  return {
    expression: expr,
    kind: 'cron',
    nextAfter(after: number): number {
      const it = CronExpressionParser.parse(expr, { currentDate: new Date(after), tz: 'UTC' });
      let next = it.next().getTime();
      // cron-parser works in whole seconds; make sure the occurrence is strictly after `after`.
      while (next <= after) next = it.next().getTime();
      return next;
    },
  };
}

/** The smallest gap between two occurrences over the next few (to decide the monitor default). */
export function approximateIntervalMs(schedule: TimerSchedule, fromMs: number): number {
  let a = schedule.nextAfter(fromMs);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const b = schedule.nextAfter(a);
    min = Math.min(min, b - a);
    a = b;
  }
  return min;
}

export interface TimerListenerOptions {
  functionName: string;
  schedule: TimerSchedule;
  runOnStartup: boolean;
  useMonitor: boolean;
  clock: Clock;
  store: ScheduleStatusStore;
  log: HostLog;
  /** Runs the function once; rejects on failure. */
  invoke(timer: { isPastDue: boolean; scheduleStatus: ScheduleStatus | null }): Promise<void>;
}

export class TimerListener {
  private chain: Promise<unknown> = Promise.resolve();
  private status: ScheduleStatus | undefined;
  private loop?: Promise<void>;

  constructor(private readonly o: TimerListenerOptions) {}

  /** Starts the schedule; resolves once the loop is running (the past-due / startup run may still be going). */
  start(signal: AbortSignal): void {
    this.loop = this.run(signal).catch((err) => {
      this.o.log('error', `Timer ${this.o.functionName} stopped: ${(err as Error).message}`, { function: this.o.functionName });
    });
  }

  /** Waits for the scheduling loop to end (after the signal aborted) and for a running invocation. */
  async stopped(): Promise<void> {
    await this.loop;
    await this.chain.catch(() => undefined);
  }

  /** Invokes the function now, after any invocation already running. Rejects with the function's error. */
  runNow(isPastDue: boolean): Promise<void> {
    return this.serialised(() => this.o.invoke({ isPastDue, scheduleStatus: this.status ?? null }));
  }

  private serialised(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async fire(isPastDue: boolean, occurrence: number): Promise<void> {
    try {
      await this.serialised(() => this.o.invoke({ isPastDue, scheduleStatus: this.status ?? null }));
    } catch {
      // Already logged by the host with the function name; a timer waits for its next occurrence.
    }
    if (this.status) this.status = { ...this.status, last: new Date(occurrence).toISOString() };
  }

  private async persist(next: number): Promise<void> {
    if (!this.o.useMonitor) return;
    const now = this.o.clock.now();
    this.status = {
      last: this.status?.last ?? new Date(0).toISOString(),
      next: new Date(next).toISOString(),
      lastUpdated: new Date(now).toISOString(),
    };
    try {
      await this.o.store.set(this.o.functionName, this.status);
    } catch (err) {
      this.o.log('warn', `Timer ${this.o.functionName}: could not save its schedule status (${(err as Error).message})`, { function: this.o.functionName });
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { clock, schedule, functionName } = this.o;
    if (this.o.useMonitor) {
      try {
        this.status = await this.o.store.get(functionName);
      } catch (err) {
        this.o.log('warn', `Timer ${functionName}: could not read its schedule status (${(err as Error).message}); past-due detection is off for this start`, { function: functionName });
      }
      const due = this.status ? Date.parse(this.status.next) : Number.NaN;
      if (Number.isFinite(due) && due < clock.now() && !signal.aborted) {
        this.o.log('info', `Timer ${functionName} is past due (it was due at ${this.status!.next}); running it now`, { function: functionName });
        await this.fire(true, due);
      }
    }
    if (this.o.runOnStartup && !signal.aborted) await this.fire(false, clock.now());

    while (!signal.aborted) {
      const now = clock.now();
      const next = schedule.nextAfter(now);
      await this.persist(next);
      this.o.log('debug', `Timer ${functionName}: next occurrence ${new Date(next).toISOString()}`, { function: functionName });
      while (!signal.aborted && clock.now() < next) {
        await clock.sleep(next - clock.now(), signal);
      }
      if (signal.aborted) break;
      await this.fire(false, next);
    }
  }
}
