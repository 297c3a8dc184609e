/**
 * Source health, as users of the Sumo Logic source know it: Pending → Started → Initialized →
 * Authenticated → Collecting, plus Error and Stopping. Every change is a health event (a custom
 * event `mtc.health`) and a row in the health table, returned by the status endpoint.
 */
import type { CollectorError } from './errors';
import type { Ledger } from './state/ledger';
import type { Clock } from './time/clock';
import type { Logger } from './log';
import { EVENTS, type Telemetry } from './telemetry';

export type SourceState = 'Pending' | 'Started' | 'Initialized' | 'Authenticated' | 'Collecting' | 'Error' | 'Stopping';

export interface HealthDeps {
  ledger: Ledger;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
}

/**
 * Moves a source to `state` (recording the error, if any); emits a health event when the state
 * changes. With `onlyFrom`, the move happens only if the source is in one of those states when the
 * write lands: the check is inside the compare-and-swap, so a decision such as "resume the source
 * if it is stopped" cannot undo a change another instance made in between. Returns whether the
 * row was written.
 */
export async function setSourceState(
  deps: HealthDeps,
  sourceId: string,
  state: SourceState,
  opts: { error?: CollectorError; configHash?: string; reason?: string; onlyFrom?: readonly SourceState[] } = {},
): Promise<boolean> {
  const now = deps.clock.now();
  // Compare-and-swap, so that of several workers making the same change only one reports it.
  let previous: string;
  for (let attempt = 0; ; attempt++) {
    const current = await deps.ledger.getHealth(sourceId);
    previous = current?.state ?? 'Pending';
    if (opts.onlyFrom && !opts.onlyFrom.includes(previous as SourceState)) return false;
    const patch: Record<string, unknown> = { state };
    if (opts.error) {
      patch.lastError = JSON.stringify(opts.error.toHealth());
      patch.lastErrorAt = now;
    }
    if (opts.configHash !== undefined) patch.configHash = opts.configHash;
    if (state === 'Collecting') patch.lastSuccessAt = now;
    if (previous !== state) patch.stateSince = now;
    try {
      if (current) await deps.ledger.health.updateEntity({ partitionKey: sourceId, rowKey: 'health', ...patch }, 'Merge', { etag: current.etag });
      else await deps.ledger.health.createEntity({ partitionKey: sourceId, rowKey: 'health', ...patch });
      break;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if ((status === 412 || status === 409) && attempt < 8) continue;
      throw err;
    }
  }
  if (previous !== state) {
    const e = opts.error;
    deps.telemetry.event(EVENTS.health, {
      source: sourceId, state, previousState: previous,
      errorType: e?.type, code: e?.code, message: e?.message ?? opts.reason, fix: e?.fix,
    });
    deps.log.log(state === 'Error' ? 'error' : 'info', `source ${sourceId}: ${previous} → ${state}${e ? `: ${e.message}${e.fix ? ` Fix: ${e.fix}` : ''}` : opts.reason ? `: ${opts.reason}` : ''}`, {
      source: sourceId, state, previousState: previous, ...(e ? { errorType: e.type, code: e.code } : {}),
    });
  }
  return true;
}
