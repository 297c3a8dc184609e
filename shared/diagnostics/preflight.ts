/**
 * Preflight diagnostics run automatically (issue 8): when a source is added or its configuration
 * changes, the planner timer's preflight step (shared/planning/preflight-step.ts, beside the
 * planning, never inside it: issue 19) runs `diagnoseSource` once for it and records the result as the source's
 * health state, so a broken setup shows up as `Error` with the fix before any slice is fetched.
 *
 * - When: the source's configuration hash (`configHashOf`) differs from the hash of the last
 *   preflight. That hash lives in the source's health row, in properties of its own
 *   (`preflightHash`, `preflightAt`, `preflightCode`), so no table is added and the columns the
 *   ledger reads are untouched. A preflight that ended in Error is repeated after
 *   `recheckErrorMs` (default 30 min), so a setup fixed outside the configuration (a service
 *   principal that finished provisioning, a permission granted) resumes by itself.
 * - At most one preflight per configuration change across every instance: the run is claimed by
 *   an ETag-conditional write of `preflightHash` before anything is sent.
 * - Cost: one token request and at most one API request (the one-row probe). The probe is charged
 *   to the tenant budget with `budget.charge(tenantId, 'live', 1)` after it was sent (charge, not
 *   acquire: it is a one-off, like the retry after a token renewal).
 * - Recording (shared/health.ts `setSourceState`):
 *   - probe answered: `Authenticated` (the page worker moves the source to `Collecting` with its
 *     first page);
 *   - a setup error: `Error` with the fix, and the current configHash, so the planner and the
 *     page worker stop spending requests until the configuration changes, a replay request
 *     resumes it, or the re-check passes;
 *   - a transient failure (throttling, an outage, a network error): the furthest state reached
 *     (`Started` or `Initialized` or `Authenticated`) with the reason, and the preflight is run again
 *     at the next call;
 *   - a disabled source: `Pending`.
 *
 * `preflightIfChanged` never throws for a diagnosis; only storage failures reach the caller.
 */
import { isTokenCredential, type TokenCredential } from '@azure/core-auth';
import type { SourceConfig } from '../components';
import { CollectorError, type ErrorType } from '../errors';
import { setSourceState, type SourceState } from '../health';
import type { Logger } from '../log';
import type { Ledger } from '../state/ledger';
import { isStatus } from '../state/storage';
import type { Telemetry } from '../telemetry';
import type { Clock } from '../time/clock';
import type { MessageTraceClient } from '../api/client';
import { diagnoseSource, type Diagnosis, type DiagnosisCode } from './diagnose';

/** What a preflight needs from the runtime (shared/runtime.ts `Runtime` satisfies it). */
export interface PreflightRuntime {
  ledger: Ledger;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  clientsFor(source: SourceConfig): { api: MessageTraceClient; credential: unknown };
  configHashOf(source: SourceConfig): string;
  /** The tenant budget; the probe request is charged to it. */
  budget?: { charge(tenantKey: string, priority: 'live', count?: number): Promise<void> };
}

export interface PreflightOptions {
  /** Re-run a preflight that ended in Error after this long (clock time; default 30 min, 0 = never). */
  recheckErrorMs?: number;
  /** Run even when the configuration hash did not change (the on-demand route). */
  force?: boolean;
}

export const DEFAULT_PREFLIGHT_RECHECK_MS = 30 * 60_000;
/** A claimed preflight with no result after this long is run again. */
const STALE_RUN_MS = 10 * 60_000;

/** The preflight bookkeeping kept in the source's health row. */
export interface PreflightRecord {
  /** The configuration hash the last preflight ran for ('' while a transient failure waits for a re-run). */
  hash: string;
  at: number;
  code: string;
  state: string;
}

/**
 * The states a passing or unfinished preflight may move a source from: planning does not wait for
 * the preflight (issue 19), so a source may already be `Collecting` when it ends; it stays so.
 */
const BEFORE_COLLECTING: readonly SourceState[] = ['Pending', 'Initialized', 'Started', 'Authenticated', 'Error'];

/** Diagnoses that say nothing about the setup (try again later), rather than a setup error. */
const TRANSIENT: ReadonlySet<DiagnosisCode> = new Set(['ProbeFailed', 'TokenFailed', 'NetworkFailure']);

/** True when `deps` carries what a preflight needs (the planner gets the whole runtime in Azure and locally). */
export function canPreflight(deps: object): deps is PreflightRuntime {
  const d = deps as Partial<PreflightRuntime>;
  return typeof d.clientsFor === 'function' && typeof d.configHashOf === 'function' && d.ledger !== undefined && d.clock !== undefined;
}

/** Reads the preflight bookkeeping of a source (undefined when no preflight ran). */
export async function readPreflight(ledger: Ledger, sourceId: string): Promise<(PreflightRecord & { etag: string }) | undefined> {
  const row = await healthEntity(ledger, sourceId);
  if (!row || typeof row.preflightHash !== 'string') return row ? { hash: '', at: 0, code: '', state: '', etag: row.etag } : undefined;
  return { hash: row.preflightHash, at: Number(row.preflightAt ?? 0), code: String(row.preflightCode ?? ''), state: String(row.preflightState ?? ''), etag: row.etag };
}

/**
 * Runs the preflight diagnosis of `source` when its configuration changed since the last one (or
 * the last one ended in Error more than `recheckErrorMs` ago), records the state, and returns the
 * diagnosis; returns undefined when nothing was run (unchanged, or another instance claimed it).
 */
export async function preflightIfChanged(rt: PreflightRuntime, source: SourceConfig, options: PreflightOptions = {}): Promise<Diagnosis | undefined> {
  const recheck = options.recheckErrorMs ?? DEFAULT_PREFLIGHT_RECHECK_MS;
  if (!Number.isFinite(recheck) || recheck < 0) {
    throw new RangeError(`preflightIfChanged: recheckErrorMs must be a number of milliseconds ≥ 0 (0 = never), got ${String(recheck)}`);
  }
  const hash = rt.configHashOf(source);
  const now = rt.clock.now();
  const last = await readPreflight(rt.ledger, source.id);
  if (!options.force && last && last.hash === hash) {
    const dueAgain = (last.state === 'Error' && recheck > 0 && now - last.at >= recheck)
      // A preflight whose instance died before recording its result.
      || (last.state === 'Running' && now - last.at >= STALE_RUN_MS);
    if (!dueAgain) return undefined;
  }
  if (!(await claim(rt.ledger, source.id, hash, now, last?.etag))) return undefined;

  const clients = rt.clientsFor(source);
  let diagnosis: Diagnosis;
  if (!isTokenCredential(clients.credential)) {
    // Not reachable with the runtime's clients; said plainly rather than guessed.
    diagnosis = {
      sourceId: source.id, api: source.api, authMethod: source.auth.method, state: 'Error', reached: 'Started', code: 'TokenFailed',
      message: 'The source has no token credential to diagnose.', checkedAt: new Date(now).toISOString(), steps: [],
    };
  } else {
    diagnosis = await diagnoseSource(source, { credential: clients.credential as TokenCredential, api: clients.api, clock: rt.clock });
  }

  if (diagnosis.steps.some((s) => s.step === 'probe') && rt.budget) {
    try {
      await rt.budget.charge(source.tenantId, 'live', 1);
    } catch (err) {
      rt.log.log('warn', `source ${source.id}: the preflight probe was not charged to the tenant budget: ${(err as Error).message}`, { source: source.id });
    }
  }

  await record(rt, source, hash, diagnosis);
  return diagnosis;
}

async function record(rt: PreflightRuntime, source: SourceConfig, hash: string, d: Diagnosis): Promise<void> {
  const transient = d.state === 'Error' && TRANSIENT.has(d.code) && (d.code === 'NetworkFailure' || !isSetupError(d));
  const at = rt.clock.now();
  if (d.state === 'Pending') {
    await setSourceState(rt, source.id, 'Pending', { reason: d.message });
  } else if (d.state === 'Error' && !transient) {
    await setSourceState(rt, source.id, 'Error', { error: errorOf(d), configHash: hash });
  } else if (d.state === 'Error') {
    const reached: SourceState = d.reached === 'Error' || d.reached === 'Collecting' ? 'Started' : d.reached;
    // The transient cause is recorded as the last error (not as a state change), so status and the
    // --once summary say what is in the way.
    await setSourceState(rt, source.id, reached, {
      onlyFrom: BEFORE_COLLECTING,
      reason: `preflight did not finish (${d.message}); it runs again at the next planning`,
      error: new CollectorError('ThirdPartyGeneric', d.message, { code: d.code, retryable: true, ...(d.fix ? { fix: d.fix } : {}) }),
    });
  } else {
    await setSourceState(rt, source.id, 'Authenticated', { configHash: hash, reason: d.message, onlyFrom: BEFORE_COLLECTING });
  }
  await rt.ledger.health.upsertEntity({
    partitionKey: source.id, rowKey: 'health',
    // A transient failure clears the hash, so the next call runs the preflight again.
    preflightHash: transient ? '' : hash, preflightAt: at, preflightCode: d.code, preflightState: transient ? 'Transient' : d.state,
  }, 'Merge');
}

/** A TokenFailed or ProbeFailed that still names a setup problem (a 4xx other than throttling). */
function isSetupError(d: Diagnosis): boolean {
  const failed = d.steps.find((s) => !s.ok);
  if (!failed) return false;
  return !/\b(429|5\d\d|timed? ?out|ETIMEDOUT|ECONNRESET|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket|network|throttl|transient|unavailable|before a response)/i.test(`${failed.detail} ${d.message} ${d.fix ?? ''}`);
}

function errorOf(d: Diagnosis): CollectorError {
  const type: ErrorType = 'ThirdPartyConfig';
  return new CollectorError(type, d.message, { code: d.code, retryable: false, ...(d.fix ? { fix: d.fix } : {}) });
}

interface HealthEntity { etag: string; preflightHash?: unknown; preflightAt?: unknown; preflightCode?: unknown; preflightState?: unknown }

async function healthEntity(ledger: Ledger, sourceId: string): Promise<HealthEntity | undefined> {
  try {
    return await ledger.health.getEntity<Record<string, unknown>>(sourceId, 'health') as unknown as HealthEntity;
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/** Claims the preflight for `hash` by an ETag-conditional write; false when another instance won. */
async function claim(ledger: Ledger, sourceId: string, hash: string, now: number, etag: string | undefined): Promise<boolean> {
  const entity = { partitionKey: sourceId, rowKey: 'health', preflightHash: hash, preflightAt: now, preflightState: 'Running' };
  try {
    if (etag === undefined) await ledger.health.createEntity(entity);
    else await ledger.health.updateEntity(entity, 'Merge', { etag });
    return true;
  } catch (err) {
    if (isStatus(err, 409) || isStatus(err, 412)) return false;
    throw err;
  }
}
