/** What the page worker and its stages (shared/worker/stages) work with and answer. */
import type { PageStore } from './page-store';
import type { SeenStore } from '../settle/seen-store';
import type { CollectorConfig, SourceConfig } from '../components';
import type { CollectorError } from '../errors';
import type { Logger } from '../log';
import type { MessageTraceClient, RenewableCredential } from '../api/client';
import type { Destination } from '../destinations/destination';
import type { HealthRow, Ledger, SliceRow } from '../state/ledger';
import type { JobQueue } from '../queue/jobs';
import type { Clock } from '../time/clock';
import type { Telemetry } from '../telemetry';
import type { StoredPage } from './page-store';
import type { BacklogStore } from '../delivery/progress';
import type { DetailStore } from '../details/store';

export interface SourceClients {
  api: MessageTraceClient;
  credential: RenewableCredential;
}

export type Priority = 'live' | 'backfill' | 'rescan';
/** Priorities of the budget: a page's, or `detail` (getDetailsByRecipient, the lowest). */
export type RequestPriority = Priority | 'detail';

/** The tenant request budget, shared by every instance (shared/budget). */
export interface BudgetGate {
  /** `waiterKey` names the request (slice and page), so a refused live request keeps its place. */
  acquire(tenantKey: string, priority: RequestPriority, waiterKey?: string): Promise<{ granted: true } | { granted: false; waitMs: number; reason: string }>;
  pause(tenantKey: string, untilMs: number, reason: string): Promise<void>;
  /** Records a request sent without an acquire (the retry after a token renewal). */
  charge?(tenantKey: string, priority: RequestPriority, count?: number): Promise<void>;
}

export interface WorkerDeps {
  config: CollectorConfig;
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  log: Logger;
  telemetry: Telemetry;
  destinations: ReadonlyMap<string, Destination>;
  clientsFor(source: SourceConfig): SourceClients;
  configHashOf(source: SourceConfig): string;
  /** The page copies (table `<prefix>pages`, large ones in container `<prefix>spill`). */
  pages: PageStore;
  /** The seen-store for settle re-reads. */
  seen: SeenStore;
  /** Each destination's backlog and progress (shared/delivery). */
  backlog: BacklogStore;
  budget?: BudgetGate;
  /** How long a claim lives without renewal (default CLAIM_TTL_MS); renewed every third of it. */
  claimTtlMs?: number;
  /** Largest page copy kept in the slice row (default MAX_INLINE_COPY_CHARS; 0 puts every copy in the page store). */
  inlineCopyMaxChars?: number;
  /** The detail records (issue 17); without it detail enrichment is off whatever the configuration says. */
  details?: DetailStore;
}

export interface MessageMeta {
  /** Queue message id: stable across redeliveries of the same message. */
  messageId: string;
  dequeueCount: number;
  /**
   * A page batch's entry: its source's health row as the batch's one query read it when the
   * entry started (`row` undefined: the source has none yet). Absent: the guard reads it.
   */
  health?: { row: HealthRow | undefined };
}

export type PageOutcome =
  | 'forwarded' | 'slice-done' | 'duplicate' | 'claimed-elsewhere' | 'deferred' | 'retry-scheduled'
  | 'parked' | 'unknown-source' | 'unknown-slice'
  // Detail jobs: the row's detail events delivered, or the row skipped (cap, retention).
  | 'detail-done' | 'skipped'
  // A batch of page jobs: each entry's outcome is in `entries`.
  | 'batch';

export interface PageResultSummary {
  outcome: PageOutcome;
  rowsFetched?: number;
  rowsForwarded?: number;
  error?: CollectorError;
  /** A batch's entries, in its order (outcome 'batch'). */
  entries?: PageResultSummary[];
}

/** The page's content once fetched, or read back from its persisted copy. */
export type PageContent = Omit<StoredPage, 'v' | 'page'>;

export function priorityOf(slice: Pick<SliceRow, 'kind'>): Priority {
  return slice.kind === 'live' ? 'live' : slice.kind === 'backfill' ? 'backfill' : 'rescan';
}
