/**
 * The validated, normalised configuration the collector runs on. `shared/config/load.ts` turns the
 * user's JSON document into this shape (or an error that names the field and the fix).
 * The user-facing syntax is documented in docs/configuration.md. The value types the components
 * share (secret references, retry policy) are in shared/config-common/types.ts; each destination's
 * type and each auth method's block are in their folders, and the unions in the registries.
 */
import type { AuthConfigBase, DestinationConfigBase } from '../config-common/kinds';
import type { RetryPolicyConfig, TimeSpec } from '../config-common/types';

export type CloudName = 'global' | 'gcc' | 'gcchigh' | 'dod' | 'china' | 'custom';

export interface SourceEndpoints {
  /** Entra authority host, e.g. https://login.microsoftonline.com (no trailing slash). */
  authorityHost: string;
  /** Graph root, e.g. https://graph.microsoft.com (no trailing slash, no version). */
  graphBaseUrl: string;
  /** Token scope for Graph, e.g. https://graph.microsoft.com/.default */
  graphScope: string;
}

/** Options of the legacy RWS API (`api: "rws"`). */
export interface RwsOptions {
  /** The MessageTrace report URL, e.g. https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace */
  reportUrl: string;
  /** Token scope for the report (Exchange Online), e.g. https://outlook.office365.com/.default */
  scope: string;
  /** `light` (Accept: application/json, ISO dates) or `verbose` (`$format=json`, `/Date(ms)/` dates). Both are parsed either way. */
  format: 'light' | 'verbose';
  /** How the next page is asked for when the service gives no next link: `skiptoken` or `skip`. */
  paging: 'skiptoken' | 'skip';
  /** Largest `$top` sent (the documented RWS maximum is 2000). */
  maxPageSize: number;
}

/** One source, over the auth blocks of a registry: shared/components.ts names the concrete one (`SourceConfig`). */
export interface SourceConfigOf<A extends AuthConfigBase> {
  id: string;
  enabled: boolean;
  tenantId: string;
  cloud: CloudName;
  endpoints: SourceEndpoints;
  api: 'graph' | 'rws';
  graphApiVersion: 'v1.0' | 'beta';
  /** Present exactly when `api` is `rws`. */
  rws?: RwsOptions;
  auth: A;
  /** Where collection begins when the source has no cursor yet. */
  start: TimeSpec;
  /** Collection Time Offset: live collection stays this far behind now (ms). */
  collectionDelayMs: number;
  /** The least severe log line written for this source (lines that carry its id). Default info. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Length of one slice (ms); a window is cut into slices of at most this length. */
  sliceMs: number;
  /** `$top` for each request, 1..5000. */
  pageSize: number;
  /** How often the planner plans new live slices for this source (ms). */
  pollIntervalMs: number;
  /**
   * The tenant's accepted domains (lowercase), for mail direction of this source's events on every
   * destination; absent when not set (each destination's own `acceptedDomains` apply).
   */
  acceptedDomains?: string[];
  /** Fields added to every event (Sumo "Fields", Cribl tags). */
  fields: Record<string, string | number | boolean>;
  /** Retry policy for API requests. */
  retry: RetryPolicyConfig;
  /** Timeout of one API request (ms). */
  requestTimeoutMs: number;
  /**
   * The longest one page job may run (ms): its API request and every destination send. Past it the
   * job's requests are aborted and the page is retried (the retry policy, then parked). Absent:
   * DEFAULT_JOB_TIMEOUT_MS (shared/worker/stages/job-timeout.ts).
   */
  jobTimeoutMs?: number;
  /** 400s on one continuation before the rest of the slice is re-queried (self-healing pagination). */
  nextLinkFailureLimit: number;
  /** Settle-and-reconcile: re-read each settle bucket at these ages after it closes (ms; empty = off). */
  settleRereadsMs: number[];
  /** Length of a settle bucket (ms; the unit re-read at once). */
  settleBucketMs: number;
  /** Destination ids this source feeds (each exists in `destinations`). */
  destinations: string[];
  /** Detail enrichment (getDetailsByRecipient for qualifying rows); absent when not configured (off). */
  details?: DetailOptions;
}

/** A source's `details` block, normalised (shared/config/details.ts). */
export interface DetailOptions {
  enabled: boolean;
  /** The statuses that trigger a detail request, as the configuration names them (compared case-insensitively). */
  statuses: string[];
  /** Detail requests per UTC day for this source; a row whose turn comes after it is skipped (reason cap). */
  dailyRequestCap: number;
  /** Sender address patterns, lowercase (`*` wildcards); empty: any sender. */
  senders: string[];
  /** Recipient address patterns, lowercase; empty: any recipient. */
  recipients: string[];
  /** Rows older than this (ms) are skipped (reason retention): the API no longer has their details. */
  retentionMs: number;
}

/**
 * The whole configuration, over the auth methods and destination types of the registries:
 * shared/components.ts names the concrete one (`CollectorConfig`).
 */
export interface CollectorConfigOf<A extends AuthConfigBase, D extends DestinationConfigBase> {
  sources: SourceConfigOf<A>[];
  destinations: D[];
}
