/**
 * What the config loader (shared/config/) and the components (destinations, formats, auth methods,
 * source APIs) both need: the value types of the configuration, the field helpers, the issue
 * collector and the retry schema. Nothing here imports a component, so the dependency runs one
 * way: config/ and the components import this, never each other.
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

export type HeaderValue = string | { secret: SecretRef };

/** Where a config error was found and how to fix it. */
export interface ConfigIssue {
  /** JSON path of the field, e.g. `sources[0].auth.clientSecretRef`. */
  path: string;
  message: string;
}
