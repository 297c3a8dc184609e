/**
 * The validated, normalised configuration the collector runs on. `shared/config/load.ts` turns the
 * user's JSON document into this shape (or an error that names the field and the fix).
 * The user-facing syntax is documented in docs/configuration.md.
 */

/** Where a secret lives. Secrets are never inline in the configuration. */
export type SecretRef =
  | { kind: 'env'; name: string }
  | { kind: 'keyVault'; vaultUrl: string; name: string; version?: string };

/** A point in time as written in the config: absolute, or relative to the moment it is resolved. */
export type TimeSpec =
  | { kind: 'absolute'; ms: number; text: string }
  | { kind: 'relative'; text: string };

/** Retry policy (per source and per destination). Durations in ms. */
export interface RetryPolicyConfig {
  mode: 'backoff' | 'static' | 'none';
  initialMs: number;
  multiplier: number;
  maxMs: number;
  /** Past this much time since a page's first attempt, its slice is parked. */
  horizonMs: number;
  /** Longest Retry-After honoured. */
  retryAfterCapMs: number;
  /** HTTP statuses that are retried (connection resets and timeouts always are). */
  statusCodes: number[];
}

export type CloudName = 'global' | 'gcc' | 'gcchigh' | 'dod' | 'china' | 'custom';

export interface SourceEndpoints {
  /** Entra authority host, e.g. https://login.microsoftonline.com (no trailing slash). */
  authorityHost: string;
  /** Graph root, e.g. https://graph.microsoft.com (no trailing slash, no version). */
  graphBaseUrl: string;
  /** Token scope for Graph, e.g. https://graph.microsoft.com/.default */
  graphScope: string;
}

export interface ClientSecretAuth {
  method: 'clientSecret';
  clientId: string;
  clientSecret: SecretRef;
}

export type SourceAuth = ClientSecretAuth;

export interface SourceConfig {
  id: string;
  enabled: boolean;
  tenantId: string;
  cloud: CloudName;
  endpoints: SourceEndpoints;
  api: 'graph';
  graphApiVersion: 'v1.0' | 'beta';
  auth: SourceAuth;
  /** Where collection begins when the source has no cursor yet. */
  start: TimeSpec;
  /** Collection Time Offset: live collection stays this far behind now (ms). */
  collectionDelayMs: number;
  /** Length of one slice (ms); a window is cut into slices of at most this length. */
  sliceMs: number;
  /** `$top` for each request, 1..5000. */
  pageSize: number;
  /** How often the planner plans new live slices for this source (ms). */
  pollIntervalMs: number;
  /** Fields added to every event (Sumo "Fields", Cribl tags). */
  fields: Record<string, string | number | boolean>;
  /** Retry policy for API requests. */
  retry: RetryPolicyConfig;
  /** Timeout of one API request (ms). */
  requestTimeoutMs: number;
  /** 400s on one continuation before the rest of the slice is re-queried (self-healing pagination). */
  nextLinkFailureLimit: number;
  /** Destination ids this source feeds (each exists in `destinations`). */
  destinations: string[];
}

export type HeaderValue = string | { secret: SecretRef };

export interface HttpDestinationConfig {
  id: string;
  type: 'http';
  url: string;
  headers: Record<string, HeaderValue>;
  gzip: boolean;
  maxBatchBytes: number;
  maxBatchRecords: number;
  timeoutMs: number;
  /** Plain http to a loopback address, explicitly opted into. */
  allowInsecureLoopback: boolean;
  retry: RetryPolicyConfig;
}

export interface FileDestinationConfig {
  id: string;
  type: 'file';
  /** Folder for NDJSON files (created when missing). */
  directory: string;
  maxBatchRecords: number;
  retry: RetryPolicyConfig;
}

export type DestinationConfig = HttpDestinationConfig | FileDestinationConfig;

export interface CollectorConfig {
  sources: SourceConfig[];
  destinations: DestinationConfig[];
}

/** Where a config error was found and how to fix it. */
export interface ConfigIssue {
  /** JSON path of the field, e.g. `sources[0].auth.clientSecretRef`. */
  path: string;
  message: string;
}
