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

/** Where a certificate (PEM with the private key) comes from. */
export type CertificateSource =
  | { kind: 'secret'; ref: SecretRef }
  | { kind: 'file'; path: string };

export interface CertificateAuth {
  method: 'certificate';
  clientId: string;
  certificate: CertificateSource;
  /** Thumbprint form in the client assertion header: `sha256` (PS256 + x5t#S256, the default) or `sha1` (RS256 + x5t). */
  thumbprint: 'sha256' | 'sha1';
  /** Send the certificate chain (x5c) for subject name / issuer authentication. */
  sendCertificateChain: boolean;
}

export interface AuthorizationCodeAuth {
  method: 'authorizationCode';
  clientId: string;
  clientSecret: SecretRef;
  /** The Key Vault secret that holds the newest refresh token (each rotation writes a new version). */
  refreshToken: Extract<SecretRef, { kind: 'keyVault' }>;
  /** Optional one-time authorization code, redeemed when the vault holds no refresh token yet. */
  authorizationCode?: SecretRef;
  redirectUri: string;
}

export interface ManagedIdentityAuth {
  method: 'managedIdentity';
  /** Client id of a user-assigned managed identity; absent for the system-assigned identity. */
  managedIdentityClientId?: string;
}

export interface FederatedAuth {
  method: 'federated';
  /** Application (client) id of the multi-tenant app registration that trusts the managed identity. */
  clientId: string;
  /** Client id of the user-assigned managed identity whose token is the assertion; absent for system-assigned. */
  managedIdentityClientId?: string;
  /** Audience of the managed identity token, e.g. api://AzureADTokenExchange (per cloud). */
  audience: string;
}

export type SourceAuth = ClientSecretAuth | CertificateAuth | AuthorizationCodeAuth | ManagedIdentityAuth | FederatedAuth;
export type AuthMethod = SourceAuth['method'];

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

export interface SourceConfig {
  id: string;
  enabled: boolean;
  tenantId: string;
  cloud: CloudName;
  endpoints: SourceEndpoints;
  api: 'graph' | 'rws';
  graphApiVersion: 'v1.0' | 'beta';
  /** Present exactly when `api` is `rws`. */
  rws?: RwsOptions;
  auth: SourceAuth;
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
  /** 400s on one continuation before the rest of the slice is re-queried (self-healing pagination). */
  nextLinkFailureLimit: number;
  /** Settle-and-reconcile: re-read each settle bucket at these ages after it closes (ms; empty = off). */
  settleRereadsMs: number[];
  /** Length of a settle bucket (ms; the unit re-read at once). */
  settleBucketMs: number;
  /** Destination ids this source feeds (each exists in `destinations`). */
  destinations: string[];
}

export type HeaderValue = string | { secret: SecretRef };

/** Output format of a destination (shared/formats; mapping tables in docs/destinations.md). */
export type DestinationFormat = 'raw' | 'ecs' | 'ocsf' | 'sentinel' | 'o365-messagetrace';

/** Privacy rules of a destination: row fields dropped or hashed before formatting. */
export interface DestinationPrivacyConfig {
  drop: ('subject' | 'senderAddress' | 'recipientAddress' | 'fromIP' | 'toIP' | 'messageId')[];
  hash: ('subject' | 'senderAddress' | 'recipientAddress' | 'fromIP' | 'toIP' | 'messageId' | 'senderLocalPart' | 'recipientLocalPart')[];
  /** HMAC key for hashing; without it, plain SHA-256. */
  hashKey?: SecretRef;
}

/** Fields every destination has (docs/destinations.md, "Common options"). */
export interface DestinationCommonConfig {
  id: string;
  format: DestinationFormat;
  /** The tenant's accepted domains (lowercase), for mail direction of sources that set none. */
  acceptedDomains: string[];
  /**
   * Derived by the config loader, not written by users: the accepted domains of each source that
   * sets its own (source id -> domains). They win over `acceptedDomains` for that source's events.
   */
  acceptedDomainsBySource?: Record<string, string[]>;
  privacy: DestinationPrivacyConfig;
  retry: RetryPolicyConfig;
}

export interface HttpDestinationConfig extends DestinationCommonConfig {
  type: 'http';
  url: string;
  headers: Record<string, HeaderValue>;
  gzip: boolean;
  maxBatchBytes: number;
  maxBatchRecords: number;
  timeoutMs: number;
  /** Plain http to a loopback address, explicitly opted into. */
  allowInsecureLoopback: boolean;
}

export interface FileDestinationConfig extends DestinationCommonConfig {
  type: 'file';
  /** Folder for NDJSON files (created when missing). */
  directory: string;
  maxBatchRecords: number;
}

export type { SplunkHecDestinationConfig } from '../destinations/splunk-hec/config';
export type { SumoLogicDestinationConfig } from '../destinations/sumo-logic/config';
export type { ElasticDestinationConfig } from '../destinations/elastic/config';
export type { CriblDestinationConfig } from '../destinations/cribl/config';
export type { DatadogDestinationConfig } from '../destinations/datadog/config';
export type { AzureMonitorDestinationConfig } from '../destinations/azure-monitor/config';
export type { AzureBlobDestinationConfig } from '../destinations/azure-blob/config';
export type { GoogleSecOpsDestinationConfig } from '../destinations/google-secops/config';
import type { SplunkHecDestinationConfig } from '../destinations/splunk-hec/config';
import type { SumoLogicDestinationConfig } from '../destinations/sumo-logic/config';
import type { ElasticDestinationConfig } from '../destinations/elastic/config';
import type { CriblDestinationConfig } from '../destinations/cribl/config';
import type { DatadogDestinationConfig } from '../destinations/datadog/config';
import type { AzureMonitorDestinationConfig } from '../destinations/azure-monitor/config';
import type { AzureBlobDestinationConfig } from '../destinations/azure-blob/config';
import type { GoogleSecOpsDestinationConfig } from '../destinations/google-secops/config';

/** Every destination type (one per folder under shared/destinations/). */
export type DestinationConfig =
  | HttpDestinationConfig
  | FileDestinationConfig
  | SplunkHecDestinationConfig
  | SumoLogicDestinationConfig
  | ElasticDestinationConfig
  | CriblDestinationConfig
  | DatadogDestinationConfig
  | AzureMonitorDestinationConfig
  | AzureBlobDestinationConfig
  | GoogleSecOpsDestinationConfig;

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
