/**
 * Source health, as users of the Sumo Logic source know it: Pending → Started → Initialized →
 * Authenticated → Collecting, plus Error and Stopping. Every change is a health event (a custom
 * event `mtc.health`) and a row in the health table, returned by the status endpoint.
 */
import type { CollectorError } from './errors';
import { healthFromEntity, type HealthRow, type Ledger } from './state/ledger';
import type { Clock } from './time/clock';
import type { Logger } from './log';
import { EVENTS, type Telemetry } from './telemetry';

/**
 * The health states, declared once: the type, docs/operations.md's "Health states" table and the
 * `state` row of docs/api.md are generated from this list (shared/reference-docs.ts).
 */
export const SOURCE_STATES = [
  { state: 'Pending', meaning: 'nothing has happened yet', movedBy: 'the source is configured, but the planner has not run for it' },
  { state: 'Initialized', meaning: 'the collection start is fixed', movedBy: 'the first planner run created the source\'s cursor (`message`: "collection starts at …")' },
  { state: 'Authenticated', meaning: 'the setup works: a token was issued, the permission is there and a one-row probe was answered', movedBy: 'the preflight diagnosis passed. The planner timer runs it (`shared/diagnostics/preflight.ts`, the same checks as `mtc diagnose`) as its own budgeted step beside the planning (`shared/planning/preflight-step.ts`: 16 at a time, new ones started within 20 s of each run, the rest at the next run), when a source is new and after each change of its configuration, and again every 30 minutes while the last preflight ended in `Error`. Planning does not wait for it: a new source\'s first pages may run before its preflight, and a setup error then stops the source from the page (`Error`, the same fix). It costs one token and at most one API request.' },
  { state: 'Collecting', meaning: 'pages are being collected and forwarded', movedBy: 'the first page recorded after any other state' },
  { state: 'Error', meaning: 'the source is stopped by a `ThirdPartyConfig` error', movedBy: 'the preflight found a setup error, or a page got a `ThirdPartyConfig` error. No API request is spent and no slice is planned while it lasts; `lastError.fix` says what to change.' },
  { state: 'Started', meaning: 'the source was resumed, or its preflight could not finish', movedBy: 'from `Error`: `POST /api/sources/<source>/replay`, or a configuration change when no preflight ran; also the furthest state a preflight reached when it failed for a passing reason (throttling, an outage, a network or TLS failure; it runs again at the next planning, and `lastError` names the cause)' },
  { state: 'Stopping', meaning: 'the source is disabled', movedBy: '`"enabled": false` in the configuration: the next planning records the transition (a health event) and plans no new slice; no recovery runs for it' },
] as const;

export type SourceState = (typeof SOURCE_STATES)[number]['state'];

export interface HealthDeps {
  ledger: Ledger;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
}

export interface WriteStateOptions {
  error?: CollectorError;
  configHash?: string;
  reason?: string;
  onlyFrom?: readonly SourceState[];
  /**
   * The health row as the caller read it (`row` undefined: there was none), to decide the first
   * attempt on instead of reading it again. The write is conditional on its ETag (a create when
   * there was none), so a row changed since fails the write and the next attempt reads it.
   */
  known?: { row: HealthRow | undefined };
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
  opts: WriteStateOptions = {},
): Promise<boolean> {
  return (await writeSourceState(deps, sourceId, state, opts)).written;
}

/**
 * setSourceState that also returns the health row as it wrote it (with the new ETag), so a caller
 * that reads the row next (the planner, after creating a source's cursor) needs no second read.
 * `row` is undefined when nothing was written (`onlyFrom` refused) or the write returned no ETag.
 */
export async function writeSourceState(
  deps: HealthDeps,
  sourceId: string,
  state: SourceState,
  opts: WriteStateOptions = {},
): Promise<{ written: boolean; row?: HealthRow }> {
  const now = deps.clock.now();
  // Compare-and-swap, so that of several workers making the same change only one reports it.
  let previous: string;
  let row: HealthRow | undefined;
  for (let attempt = 0; ; attempt++) {
    // The first attempt may decide on a row the caller read (the swap checks its ETag); a retry reads.
    const current = attempt === 0 && opts.known ? opts.known.row : await deps.ledger.getHealth(sourceId);
    previous = current?.state ?? 'Pending';
    if (opts.onlyFrom && !opts.onlyFrom.includes(previous as SourceState)) {
      // A refusal writes nothing, so nothing would catch a stale copy: decide it on a fresh read.
      if (attempt === 0 && opts.known) continue;
      return { written: false };
    }
    const patch: Record<string, unknown> = { state };
    if (opts.error) {
      patch.lastError = JSON.stringify(opts.error.toHealth());
      patch.lastErrorAt = now;
    }
    if (opts.configHash !== undefined) patch.configHash = opts.configHash;
    if (state === 'Collecting') patch.lastSuccessAt = now;
    if (previous !== state) patch.stateSince = now;
    try {
      const r = current
        ? await deps.ledger.health.updateEntity({ partitionKey: sourceId, rowKey: 'health', ...patch }, 'Merge', { etag: current.etag })
        : await deps.ledger.health.createEntity({ partitionKey: sourceId, rowKey: 'health', ...patch });
      if (r.etag) {
        const before = current ? { ...current, behind: current.behind.join(',') } : {};
        row = healthFromEntity(sourceId, { ...before, ...patch, etag: r.etag });
      }
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
  return { written: true, ...(row ? { row } : {}) };
}
