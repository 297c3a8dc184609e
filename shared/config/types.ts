/**
 * The validated, normalised configuration the collector runs on. `shared/config/load.ts` turns the
 * user's JSON document into this shape (or an error that names the field and the fix).
 * The user-facing syntax is documented in docs/configuration.md. The value types the components
 * share (secret references, retry policy) are in shared/config-common/types.ts; each destination's
 * type is in its folder, and their union in shared/destinations/registry.ts.
 */
import type { DestinationConfigBase } from '../config-common/kinds';
import type { RetryPolicyConfig, SecretRef, TimeSpec } from '../config-common/types';

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

/**
 * The whole configuration, over the destination types of a registry: shared/components.ts names
 * the concrete one (`CollectorConfig`, with every registered destination type).
 */
export interface CollectorConfigOf<D extends DestinationConfigBase> {
  sources: SourceConfig[];
  destinations: D[];
}
