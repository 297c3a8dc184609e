/**
 * In-process overrides for the runtime the function handlers build from app settings.
 * The local host (`npm start`) and the tests set these before they load the functions, so the
 * handlers, the simulator and the test share one clock and trust the simulator's certificate.
 * In Azure nothing sets them and everything comes from app settings.
 */
import type { Clock } from './time/clock';
import type { CollectorConfig } from './components';
import type { Logger } from './log';
import type { Telemetry } from './telemetry';

export interface RuntimeOverrides {
  clock?: Clock;
  /** A ready configuration (skips MTC_CONFIG / MTC_CONFIG_PATH). */
  config?: CollectorConfig;
  /** Extra PEM certificates to trust for outgoing https (the simulator's self-signed certificate). */
  extraCaCertificates?: string[];
  /** Environment to read instead of process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where logs go (tests scan them for secrets). Default: the console. */
  log?: Logger;
  /** Where metrics and events go (tests use MemoryTelemetry). Default: OpenTelemetry + App Insights. */
  telemetry?: Telemetry;
}

let current: RuntimeOverrides = {};
const listeners = new Set<() => void>();

export function setRuntimeOverrides(overrides: RuntimeOverrides): void {
  current = { ...overrides };
  for (const l of listeners) l();
}

export function getRuntimeOverrides(): RuntimeOverrides {
  return current;
}

/** Called when overrides change, so cached runtimes are rebuilt. */
export function onRuntimeOverridesChanged(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
