/**
 * The simulator's Microsoft Entra ID (v1 and v2 endpoints): enough of login.microsoftonline.com for
 * the collector (MSAL Node / @azure/identity as a custom authority host, or raw OAuth 2.0) and for
 * the Graph and RWS simulators to check the bearer tokens they receive.
 *
 * Routes (`{tenant}` is a tenant id, a verified domain of the tenant, or for user flows `common` /
 * `organizations`):
 *   POST /{tenant}/oauth2/v2.0/token            scope=...      (v2)
 *   POST /{tenant}/oauth2/token                 resource=...   (v1)
 *   GET  /{tenant}/oauth2/v2.0/authorize        302 to redirect_uri with code (no UI, auto-consent)
 *   GET  /{tenant}/oauth2/authorize             same, v1 (resource=...)
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/.well-known/openid-configuration
 *   GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys   (JWKS)
 *   GET  /{tenant}/discovery/instance           (MSAL instance discovery; MSAL calls it on
 *                                                login.microsoftonline.com/common, so it only
 *                                                reaches us through a proxy or a test)
 *
 * Deliberate differences from real Entra, each there to catch a collector bug:
 * - Refresh tokens rotate strictly by default (`refreshTokenReuse: 'reject'`): once a refresh
 *   token has been redeemed, the old one fails with invalid_grant. Real Entra keeps the old one
 *   valid until it expires, so a collector that forgets to store the new token works against Entra
 *   until the 90-day inactivity limit, then fails. Use `refreshTokenReuse: 'allow'` for Entra's
 *   behaviour.
 * - Access tokens are checked strictly against the clock (no skew), and they expire exactly
 *   `tokenLifetimeSec` after issue (Entra randomises 60-90 min).
 * - The v1 token endpoint returns `expires_in`, `ext_expires_in`, `expires_on` and `not_before` as
 *   decimal strings, as Entra's v1 endpoint does (option `v1NumbersAsStrings`, default true).
 * - invalid_client errors (wrong secret, bad assertion) answer HTTP 401, as Entra does (seen in
 *   OfficeDev/microsoft-365-agents-toolkit#8621: "returned http error: 401 ... AADSTS7000215");
 *   every other token error answers 400.
 * - Error texts follow Entra's; codes Entra does not document (jti replay, rotated refresh token)
 *   say so in the text.
 *
 * Time: token `iat`/`nbf`/`exp`, authorization codes, refresh tokens and client assertions are all
 * judged on the simulator's Clock. MSAL signs client assertions and caches tokens on the real
 * Date.now(); a test that moves a ManualClock far from real time while using a certificate
 * credential must move Date too (node:test `mock.timers.enable({ apis: ['Date'] })`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { Clock } from '../shared/time/clock';
import {
  base64UrlEncode,
  certificateThumbprints,
  decodeJwt,
  JwtFormatError,
  signJwtRs256,
  verifyJwtSignature,
  type DecodedJwt,
} from './jwt';

// ---------------------------------------------------------------------------------------------
// Public types

export interface EntraApp {
  clientId: string;
  clientSecret?: string;
  /** PEM with one or more CERTIFICATE blocks (a private key block in the same text is ignored). */
  certificatePem?: string;
  redirectUris?: string[];
  /** resource => granted application permissions, e.g. {'https://graph.microsoft.com': ['ExchangeMessageTrace.Read.All']} */
  appRoles: Record<string, string[]>;
  /** resource => consented delegated permissions, e.g. {'https://outlook.office365.com': ['ReportingWebService.Read']} */
  delegatedScopes?: Record<string, string[]>;
  /**
   * Federated identity credentials: a client assertion that is a token issued by THIS simulator
   * (e.g. a managed identity's token for api://AzureADTokenExchange) with this issuer and subject
   * is accepted in place of a secret or certificate (workload identity federation).
   */
  federatedCredentials?: FederatedCredential[];
}

export interface FederatedCredential {
  /** The `iss` of the presented token, e.g. `<simulator>/<home tenant>/v2.0`. */
  issuer: string;
  /** The `sub` of the presented token (the managed identity's object id). */
  subject: string;
  /** Accepted `aud` values. Default ['api://AzureADTokenExchange']. */
  audiences?: string[];
}

export interface EntraTenant {
  tenantId: string;
  apps: EntraApp[];
  /** Verified domains (e.g. contoso.onmicrosoft.com) accepted in place of the tenant id in paths. */
  domains?: string[];
}

export interface AccessTokenClaims {
  tid: string;
  appid: string;
  aud: string;
  roles?: string[];
  scp?: string;
  exp: number;
  nbf: number;
  iat: number;
  iss: string;
  oid: string;
}

export type TokenCheck =
  | { ok: true; claims: AccessTokenClaims }
  | {
      ok: false;
      status: 401;
      /** Graph's code for every bearer token failure: InvalidAuthenticationToken. */
      code: string;
      message: string;
      /** Why, for simulators that word their 401 differently (RWS) and for test assertions. */
      reason?: TokenFailureReason;
    };

export type TokenFailureReason = 'missing' | 'malformed' | 'signature' | 'expired' | 'not_yet_valid' | 'audience';

export type TokenGrantType = 'client_credentials' | 'authorization_code' | 'refresh_token' | 'other';

export interface EntraStats {
  /** Token endpoint requests (v1 and v2), successful or not. */
  tokenRequests: number;
  /** Of which answered with an error. */
  failedTokenRequests: number;
  /**
   * Per tenant (the tenant id when the path resolved to a known tenant, else the path segment as
   * sent), per grant type (`other` for a missing or unsupported grant_type).
   */
  byTenant: Record<string, { requests: number; failed: number; issued: number; byGrant: Partial<Record<TokenGrantType, number>> }>;
}

export interface EntraSimulatorOptions {
  clock: Clock;
  tenants: EntraTenant[];
  /** Access token lifetime (`expires_in`). Default 3599. */
  tokenLifetimeSec?: number;
  /** Authorization code lifetime. Default 600 (Entra: about 10 minutes). */
  authorizationCodeLifetimeSec?: number;
  /** Refresh token inactivity lifetime. Default 90 days. */
  refreshTokenLifetimeSec?: number;
  /** 'reject' (default): a redeemed refresh token is invalid. 'allow': Entra's behaviour (valid until it expires). */
  refreshTokenReuse?: 'reject' | 'allow';
  /** Allowed clock skew for a client assertion's `nbf`. Default 300 s. */
  assertionClockSkewSec?: number;
  /** Resources (App ID URIs) the directory knows besides those named in apps' grants. Well-known Microsoft ones are always known. */
  resources?: string[];
  /** v1 token responses carry expires_in / expires_on / not_before as strings (Entra's v1 endpoint does). Default true. */
  v1NumbersAsStrings?: boolean;
}

/** Resources every simulated directory knows (commercial and national clouds of Graph and EXO). */
export const WELL_KNOWN_RESOURCES: readonly string[] = [
  'https://graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
  'https://outlook.office365.com',
  'https://outlook.office365.us',
  'https://outlook-dod.office365.us',
  'https://partner.outlook.cn',
  'https://manage.office.com',
  'https://vault.azure.net',
  'https://storage.azure.com',
  'https://management.azure.com',
  'api://AzureADTokenExchange',
];

export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

// ---------------------------------------------------------------------------------------------
// Internal state

interface TenantState {
  tenantId: string;
  domains: string[];
  apps: Map<string, AppState>;
}

interface AppCertificate {
  der: Buffer;
  x5t: string;
  x5tS256: string;
  publicKey: KeyObject;
  validFrom: string;
  validTo: string;
}

interface AppState {
  clientId: string;
  secretHash?: Buffer;
  certificates: AppCertificate[];
  redirectUris: string[];
  appRoles: Map<string, string[]>;
  delegatedScopes: Map<string, string[]>;
  federated: FederatedCredential[];
}

interface AuthorizationCodeRecord {
  tenantId: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  /** Set for a v1 authorize request (resource=...). */
  resource?: string;
  expiresAt: number;
  redeemed: boolean;
  codeChallenge?: string;
  codeChallengeMethod?: 'S256' | 'plain';
}

interface RefreshTokenRecord {
  tenantId: string;
  clientId: string;
  resource: string;
  /** Requested scopes (v2 form) to reuse when a refresh request names none. */
  scope: string;
  expiresAt: number;
  state: 'active' | 'redeemed' | 'revoked';
}

type Version = 'v1' | 'v2';

class TokenError extends Error {
  constructor(
    readonly error: string,
    readonly code: number,
    readonly description: string,
    readonly status: 400 | 401 = 400,
  ) {
    super(`AADSTS${code}: ${description}`);
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const GRAPH = 'https://graph.microsoft.com';
const MAX_BODY_BYTES = 256 * 1024;
const DOC_CERT_CREDENTIALS = 'Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .';

function normResource(r: string): string {
  return r.trim().replace(/\/+$/, '').toLowerCase();
}

/** A stable GUID-shaped id derived from its inputs (service principal and user object ids). */
function derivedGuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function parseCertificates(pem: string, where: string): AppCertificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TypeError(`${where}.certificatePem must contain at least one PEM CERTIFICATE block`);
  return blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new TypeError(`${where}.certificatePem certificate #${i + 1} could not be parsed: ${(err as Error).message}`, { cause: err });
    }
    if (cert.publicKey.asymmetricKeyType !== 'rsa' && cert.publicKey.asymmetricKeyType !== 'rsa-pss') {
      throw new TypeError(`${where}.certificatePem certificate #${i + 1} has a ${String(cert.publicKey.asymmetricKeyType)} key; Entra client assertions (RS256/PS256) need an RSA key`);
    }
    return { der: cert.raw, ...certificateThumbprints(cert.raw), publicKey: cert.publicKey, validFrom: cert.validFrom, validTo: cert.validTo };
  });
}

function validateGrantMap(map: unknown, where: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (map === undefined) return out;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new TypeError(`${where} must be an object mapping a resource URI to an array of permission names`);
  for (const [resource, perms] of Object.entries(map as Record<string, unknown>)) {
    if (!resource.trim()) throw new TypeError(`${where} has an empty resource key`);
    if (!Array.isArray(perms) || perms.some((p) => typeof p !== 'string' || !p.trim())) {
      throw new TypeError(`${where}['${resource}'] must be an array of non-empty permission names`);
    }
    out.set(normResource(resource), [...new Set(perms as string[])]);
  }
  return out;
}

function buildApp(app: EntraApp, where: string): AppState {
  if (!app || typeof app !== 'object') throw new TypeError(`${where} must be an object`);
  if (typeof app.clientId !== 'string' || !app.clientId.trim()) throw new TypeError(`${where}.clientId must be a non-empty string (the application (client) id)`);
  if (app.clientSecret !== undefined && (typeof app.clientSecret !== 'string' || app.clientSecret.length === 0)) {
    throw new TypeError(`${where}.clientSecret must be a non-empty string when set`);
  }
  if (app.certificatePem !== undefined && typeof app.certificatePem !== 'string') throw new TypeError(`${where}.certificatePem must be a PEM string when set`);
  if (app.redirectUris !== undefined) {
    if (!Array.isArray(app.redirectUris)) throw new TypeError(`${where}.redirectUris must be an array of absolute URLs`);
    app.redirectUris.forEach((u, i) => {
      if (typeof u !== 'string' || !URL.canParse(u)) throw new TypeError(`${where}.redirectUris[${i}] must be an absolute URL`);
    });
  }
  return {
    clientId: app.clientId.trim(),
    secretHash: app.clientSecret === undefined ? undefined : sha256(app.clientSecret),
    certificates: app.certificatePem === undefined ? [] : parseCertificates(app.certificatePem, where),
    redirectUris: [...(app.redirectUris ?? [])],
    appRoles: validateGrantMap(app.appRoles ?? {}, `${where}.appRoles`),
    delegatedScopes: validateGrantMap(app.delegatedScopes, `${where}.delegatedScopes`),
    federated: (app.federatedCredentials ?? []).map((f) => ({ issuer: f.issuer, subject: f.subject, audiences: [...(f.audiences ?? ['api://AzureADTokenExchange'])] })),
  };
}

function positiveSeconds(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`EntraSimulator option ${name} must be a positive number of seconds, got ${String(value)}`);
  return value;
}

function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

// ---------------------------------------------------------------------------------------------

export class EntraSimulator {
  private readonly clock: Clock;
  private readonly tenants = new Map<string, TenantState>();
  private readonly domains = new Map<string, string>();
  private readonly tokenLifetimeSec: number;
  private readonly codeLifetimeSec: number;
  private readonly refreshLifetimeSec: number;
  private readonly refreshTokenReuse: 'reject' | 'allow';
  private readonly skewSec: number;
  private readonly v1Strings: boolean;
  private readonly extraResources: string[];
  private readonly codes = new Map<string, AuthorizationCodeRecord>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  /** jti => clock ms until which a replay is rejected. */
  private readonly usedJtis = new Map<string, number>();
  private readonly signingKey: KeyObject;
  private readonly verificationKey: KeyObject;
  private readonly publicJwk: { kty: string; n: string; e: string };
  private readonly kid: string;
  private baseUrl: string | undefined;
  private counters: EntraStats = { tokenRequests: 0, failedTokenRequests: 0, byTenant: {} };

  constructor(opts: EntraSimulatorOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('EntraSimulator needs an options object with clock and tenants');
    if (!opts.clock || typeof opts.clock.now !== 'function') throw new TypeError('EntraSimulator option clock must be a Clock (shared/time/clock.ts)');
    if (!Array.isArray(opts.tenants)) throw new TypeError('EntraSimulator option tenants must be an array of { tenantId, apps }');
    this.clock = opts.clock;
    this.tokenLifetimeSec = positiveSeconds(opts.tokenLifetimeSec, 'tokenLifetimeSec', 3599);
    this.codeLifetimeSec = positiveSeconds(opts.authorizationCodeLifetimeSec, 'authorizationCodeLifetimeSec', 600);
    this.refreshLifetimeSec = positiveSeconds(opts.refreshTokenLifetimeSec, 'refreshTokenLifetimeSec', 90 * 24 * 3600);
    this.skewSec = opts.assertionClockSkewSec === undefined ? 300 : opts.assertionClockSkewSec;
    if (!Number.isFinite(this.skewSec) || this.skewSec < 0) throw new RangeError(`EntraSimulator option assertionClockSkewSec must be a number of seconds >= 0, got ${String(opts.assertionClockSkewSec)}`);
    const reuse = opts.refreshTokenReuse ?? 'reject';
    if (reuse !== 'reject' && reuse !== 'allow') throw new TypeError(`EntraSimulator option refreshTokenReuse must be 'reject' or 'allow', got '${String(reuse)}'`);
    this.refreshTokenReuse = reuse;
    this.v1Strings = opts.v1NumbersAsStrings ?? true;
    if (opts.resources !== undefined && (!Array.isArray(opts.resources) || opts.resources.some((r) => typeof r !== 'string' || !r.trim()))) {
      throw new TypeError('EntraSimulator option resources must be an array of resource URIs');
    }
    this.extraResources = [...(opts.resources ?? [])];
    for (const t of opts.tenants) this.addTenant(t);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.signingKey = privateKey;
    this.verificationKey = publicKey;
    const jwk = publicKey.export({ format: 'jwk' }) as { kty: string; n: string; e: string };
    this.publicJwk = { kty: jwk.kty, n: jwk.n, e: jwk.e };
    this.kid = createHash('sha1').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64url');
  }

  // ------------------------------------------------------------------ configuration

  /** The origin the server listens on, e.g. https://127.0.0.1:54321 (the authority host). */
  setBaseUrl(baseUrl: string): void {
    if (typeof baseUrl !== 'string' || !URL.canParse(baseUrl)) throw new TypeError(`EntraSimulator.setBaseUrl: baseUrl must be an absolute http(s) URL such as https://127.0.0.1:54321, got '${String(baseUrl)}'`);
    const u = new URL(baseUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError(`EntraSimulator.setBaseUrl: baseUrl must use https (or http), got '${u.protocol}'`);
    if (u.pathname !== '/' || u.search || u.hash) throw new TypeError(`EntraSimulator.setBaseUrl: baseUrl must be an origin without a path, got '${baseUrl}'`);
    this.baseUrl = u.origin;
  }

  addTenant(t: EntraTenant): void {
    if (!t || typeof t !== 'object') throw new TypeError('EntraSimulator.addTenant: tenant must be an object { tenantId, apps }');
    if (typeof t.tenantId !== 'string' || !GUID.test(t.tenantId)) throw new TypeError(`EntraSimulator.addTenant: tenantId must be a GUID, got '${String(t.tenantId)}'`);
    const tenantId = t.tenantId.toLowerCase();
    if (this.tenants.has(tenantId)) throw new Error(`EntraSimulator.addTenant: tenant ${tenantId} already exists`);
    if (!Array.isArray(t.apps)) throw new TypeError(`EntraSimulator.addTenant: tenants[${tenantId}].apps must be an array`);
    const domains = (t.domains ?? []).map((d, i) => {
      if (typeof d !== 'string' || !/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i.test(d)) throw new TypeError(`EntraSimulator.addTenant: tenants[${tenantId}].domains[${i}] must be a domain name such as contoso.onmicrosoft.com`);
      const key = d.toLowerCase();
      if (this.domains.has(key)) throw new Error(`EntraSimulator.addTenant: domain ${key} already belongs to tenant ${this.domains.get(key)}`);
      return key;
    });
    const apps = new Map<string, AppState>();
    t.apps.forEach((a, i) => {
      const app = buildApp(a, `tenants[${tenantId}].apps[${i}]`);
      const key = app.clientId.toLowerCase();
      if (apps.has(key)) throw new Error(`EntraSimulator.addTenant: tenants[${tenantId}] lists client ${app.clientId} twice`);
      apps.set(key, app);
    });
    this.tenants.set(tenantId, { tenantId, domains, apps });
    for (const d of domains) this.domains.set(d, tenantId);
  }

  /** Adds (or replaces) an app registration in a tenant. */
  setApp(tenantId: string, app: EntraApp): void {
    const tenant = this.requireTenant(tenantId, 'setApp');
    const state = buildApp(app, `tenants[${tenant.tenantId}].apps[${String(app?.clientId)}]`);
    tenant.apps.set(state.clientId.toLowerCase(), state);
  }

  getApp(tenantId: string, clientId: string): EntraApp | undefined {
    const app = this.tenants.get(String(tenantId).toLowerCase())?.apps.get(String(clientId).toLowerCase());
    if (!app) return undefined;
    // A view of the configuration; the secret itself is not kept (only its hash).
    return {
      clientId: app.clientId,
      redirectUris: [...app.redirectUris],
      appRoles: Object.fromEntries([...app.appRoles].map(([k, v]) => [k, [...v]])),
      delegatedScopes: Object.fromEntries([...app.delegatedScopes].map(([k, v]) => [k, [...v]])),
    };
  }

  /** Replaces an app's client secret (rotation); undefined removes it. */
  setClientSecret(tenantId: string, clientId: string, secret: string | undefined): void {
    const app = this.requireApp(tenantId, clientId, 'setClientSecret');
    if (secret !== undefined && (typeof secret !== 'string' || secret.length === 0)) throw new TypeError('EntraSimulator.setClientSecret: secret must be a non-empty string or undefined');
    app.secretHash = secret === undefined ? undefined : sha256(secret);
  }

  /** Replaces an app's federated identity credentials ([] removes them). */
  setFederatedCredentials(tenantId: string, clientId: string, credentials: FederatedCredential[]): void {
    const app = this.requireApp(tenantId, clientId, 'setFederatedCredentials');
    app.federated = credentials.map((f) => ({ issuer: f.issuer, subject: f.subject, audiences: [...(f.audiences ?? ['api://AzureADTokenExchange'])] }));
  }

  /** Replaces an app's granted application permissions for one resource ([] removes them). */
  setAppRoles(tenantId: string, clientId: string, resource: string, roles: string[]): void {
    const app = this.requireApp(tenantId, clientId, 'setAppRoles');
    const map = validateGrantMap({ [resource]: roles }, 'EntraSimulator.setAppRoles');
    app.appRoles.set(normResource(resource), map.get(normResource(resource))!);
  }

  /** Mints an authorization code as the authorize endpoint would (no UI, auto-consent). */
  issueAuthorizationCode(tenantId: string, clientId: string, redirectUri: string, scope: string): string {
    const app = this.requireApp(tenantId, clientId, 'issueAuthorizationCode');
    if (typeof redirectUri !== 'string' || !app.redirectUris.includes(redirectUri)) {
      throw new Error(`EntraSimulator.issueAuthorizationCode: redirectUri '${String(redirectUri)}' is not registered for client ${app.clientId}; register it in redirectUris`);
    }
    if (typeof scope !== 'string' || !scope.trim()) throw new TypeError('EntraSimulator.issueAuthorizationCode: scope must be a space-separated scope string, e.g. "https://outlook.office365.com/.default offline_access"');
    return this.mintCode({ tenantId: tenantId.toLowerCase(), clientId: app.clientId, redirectUri, scope: scope.trim() });
  }

  /** Revokes every refresh token of the app in the tenant (as a password reset or admin revocation would). */
  revokeRefreshTokens(tenantId: string, clientId: string): void {
    const app = this.requireApp(tenantId, clientId, 'revokeRefreshTokens');
    const tid = tenantId.toLowerCase();
    for (const rt of this.refreshTokens.values()) {
      if (rt.tenantId === tid && rt.clientId === app.clientId && rt.state === 'active') rt.state = 'revoked';
    }
  }

  /** Token endpoint counters, for tests that assert caching. A snapshot (deep copy). */
  stats(): EntraStats {
    return structuredClone(this.counters);
  }

  resetStats(): void {
    this.counters = { tokenRequests: 0, failedTokenRequests: 0, byTenant: {} };
  }

  /** The JWKS with the public key that signs access tokens. */
  jwks(): { keys: Record<string, unknown>[] } {
    return { keys: [{ kty: this.publicJwk.kty, use: 'sig', kid: this.kid, x5t: this.kid, n: this.publicJwk.n, e: this.publicJwk.e, alg: 'RS256' }] };
  }

  // ------------------------------------------------------------------ token verification (for the Graph and RWS simulators)

  /** Checks `Bearer <jwt>`: signature (its own key), expiry against the clock, audience (resource URI, with or without trailing slash). */
  verifyAccessToken(authorizationHeader: string | undefined, audience: string): TokenCheck {
    const fail = (reason: TokenFailureReason, message: string): TokenCheck => ({ ok: false, status: 401, code: 'InvalidAuthenticationToken', message, reason });
    if (typeof authorizationHeader !== 'string' || !authorizationHeader.trim()) return fail('missing', 'Access token is empty.');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorizationHeader.trim());
    if (!m) return fail('missing', 'Access token is empty or the Authorization header does not use the Bearer scheme.');
    let jwt: DecodedJwt;
    try {
      jwt = decodeJwt(m[1]!);
    } catch (err) {
      return fail('malformed', `IDX14100: JWT is not well formed. ${(err as Error).message}.`);
    }
    if (jwt.header.alg !== 'RS256' || jwt.header.kid !== this.kid || !verifyJwtSignature(jwt, 'RS256', this.verificationKey)) {
      return fail('signature', 'Access token validation failure. Invalid signature.');
    }
    const c = jwt.payload;
    if (typeof c.exp !== 'number' || typeof c.nbf !== 'number' || typeof c.aud !== 'string' || typeof c.tid !== 'string') {
      return fail('malformed', 'Access token validation failure. The token lacks exp, nbf, aud or tid.');
    }
    const nowSec = this.clock.now() / 1000;
    if (nowSec >= c.exp) return fail('expired', 'Lifetime validation failed, the token is expired.');
    if (nowSec < c.nbf) return fail('not_yet_valid', 'Lifetime validation failed, the token is not yet valid (nbf).');
    if (typeof audience !== 'string' || normResource(c.aud) !== normResource(audience)) {
      return fail('audience', 'Access token validation failure. Invalid audience.');
    }
    const claims: AccessTokenClaims = {
      tid: c.tid,
      appid: String(c.appid ?? c.azp ?? ''),
      aud: c.aud,
      exp: c.exp,
      nbf: c.nbf,
      iat: typeof c.iat === 'number' ? c.iat : c.nbf,
      iss: String(c.iss ?? ''),
      oid: String(c.oid ?? ''),
    };
    if (Array.isArray(c.roles)) claims.roles = c.roles.map(String);
    if (typeof c.scp === 'string') claims.scp = c.scp;
    return { ok: true, claims };
  }

  // ------------------------------------------------------------------ http

  /** Answers Entra routes; returns false (without writing) when the path is not an Entra route. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const route = matchRoute(url.pathname);
    if (!route) return false;
    const method = (req.method ?? 'GET').toUpperCase();
    try {
      switch (route.kind) {
        case 'token':
          if (method !== 'POST') return methodNotAllowed(res, 'POST');
          await this.handleToken(req, res, route.tenant, route.version);
          return true;
        case 'authorize':
          if (method !== 'GET' && method !== 'POST') return methodNotAllowed(res, 'GET, POST');
          await this.handleAuthorize(req, res, url, route.tenant, route.version);
          return true;
        case 'openid':
          if (method !== 'GET') return methodNotAllowed(res, 'GET');
          this.handleOpenIdConfiguration(req, res, route.tenant, route.version);
          return true;
        case 'keys':
          if (method !== 'GET') return methodNotAllowed(res, 'GET');
          sendJson(res, 200, this.jwks());
          return true;
        case 'instance':
          if (method !== 'GET') return methodNotAllowed(res, 'GET');
          this.handleInstanceDiscovery(req, res, url);
          return true;
      }
    } catch (err) {
      if (!res.headersSent) {
        sendJson(res, 500, { error: 'server_error', error_description: `Entra simulator internal error: ${(err as Error).message}` });
      } else {
        res.destroy();
      }
      return true;
    }
  }

  private origin(req: IncomingMessage): string {
    if (this.baseUrl) return this.baseUrl;
    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    return `${encrypted ? 'https' : 'http'}://${req.headers.host ?? '127.0.0.1'}`;
  }

  private resolveTenant(segment: string): TenantState | undefined {
    const key = segment.toLowerCase();
    return this.tenants.get(key) ?? this.tenants.get(this.domains.get(key) ?? '');
  }

  private requireTenant(tenantId: string, method: string): TenantState {
    const t = typeof tenantId === 'string' ? this.resolveTenant(tenantId) : undefined;
    if (!t) throw new Error(`EntraSimulator.${method}: unknown tenant '${String(tenantId)}'; add it with addTenant or the tenants option`);
    return t;
  }

  private requireApp(tenantId: string, clientId: string, method: string): AppState {
    const t = this.requireTenant(tenantId, method);
    const app = typeof clientId === 'string' ? t.apps.get(clientId.toLowerCase()) : undefined;
    if (!app) throw new Error(`EntraSimulator.${method}: unknown client '${String(clientId)}' in tenant ${t.tenantId}; add it to the tenant's apps`);
    return app;
  }

  private knownResource(resource: string): string | undefined {
    const key = normResource(resource);
    for (const r of [...WELL_KNOWN_RESOURCES, ...this.extraResources]) if (normResource(r) === key) return r.replace(/\/+$/, '');
    for (const t of this.tenants.values()) {
      for (const app of t.apps.values()) {
        if (app.appRoles.has(key) || app.delegatedScopes.has(key)) return resource.trim().replace(/\/+$/, '');
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------------ token endpoint

  private async handleToken(req: IncomingMessage, res: ServerResponse, tenantSegment: string, version: Version): Promise<void> {
    let grant: TokenGrantType = 'other';
    let tenantKey = tenantSegment.toLowerCase();
    try {
      const params = await readForm(req);
      const grantType = params.get('grant_type') ?? '';
      grant = grantType === 'client_credentials' || grantType === 'authorization_code' || grantType === 'refresh_token' ? grantType : 'other';
      const basic = parseBasic(req.headers.authorization);
      const clientIdParam = params.get('client_id') ?? basic?.clientId;
      if (basic && params.get('client_id') && params.get('client_id') !== basic.clientId) {
        throw new TokenError('invalid_request', 900023, "The client_id in the request body does not match the client id in the Authorization header.");
      }

      let tenant = this.resolveTenant(tenantSegment);
      const generic = ['common', 'organizations', 'consumers'].includes(tenantKey);
      if (!tenant && generic) {
        if (grant === 'client_credentials') {
          throw new TokenError('invalid_request', 50059, 'No tenant-identifying information found in either the request or implied by any provided credentials.');
        }
        tenant = [...this.tenants.values()].find((t) => clientIdParam && t.apps.has(clientIdParam.toLowerCase()));
      }
      if (!tenant) {
        throw new TokenError('invalid_request', 90002, `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
      }
      tenantKey = tenant.tenantId;
      if (!params.get('grant_type')) throw missingParam('grant_type');
      if (!clientIdParam) throw missingParam('client_id');
      const app = tenant.apps.get(clientIdParam.toLowerCase());
      if (!app) {
        throw new TokenError('unauthorized_client', 700016, `Application with identifier '${clientIdParam}' was not found in the directory '${tenantSegment}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
      }
      const ctx: TokenContext = { req, tenant, app, version, params, basicSecret: basic?.secret, tenantSegment };

      let body: Record<string, unknown>;
      switch (grant) {
        case 'client_credentials':
          body = this.clientCredentials(ctx);
          break;
        case 'authorization_code':
          body = this.authorizationCodeGrant(ctx);
          break;
        case 'refresh_token':
          body = this.refreshTokenGrant(ctx);
          break;
        default:
          throw new TokenError('unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
      }
      this.count(tenantKey, grant, true);
      sendJson(res, 200, body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      this.count(tenantKey, grant, false);
      this.sendAadError(req, res, err);
    }
  }

  private count(tenant: string, grant: TokenGrantType, ok: boolean): void {
    const c = this.counters;
    c.tokenRequests += 1;
    if (!ok) c.failedTokenRequests += 1;
    const t = (c.byTenant[tenant] ??= { requests: 0, failed: 0, issued: 0, byGrant: {} });
    t.requests += 1;
    if (ok) t.issued += 1;
    else t.failed += 1;
    t.byGrant[grant] = (t.byGrant[grant] ?? 0) + 1;
  }

  private sendAadError(req: IncomingMessage, res: ServerResponse, err: TokenError): void {
    const now = this.clock.now();
    const traceId = randomUUID();
    const requested = req.headers['client-request-id'];
    const correlationId = typeof requested === 'string' && GUID.test(requested) ? requested.toLowerCase() : randomUUID();
    const timestamp = formatTimestamp(now);
    sendJson(res, err.status, {
      error: err.error,
      error_description: `AADSTS${err.code}: ${err.description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [err.code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${err.code}`,
    }, err.status === 401 ? { 'www-authenticate': 'Basic realm="simulator"' } : {});
  }

  /** Authenticates the client. Returns 'secret', 'certificate' or 'none' (public client). */
  private authenticateClient(ctx: TokenContext, requireCredential: boolean): 'secret' | 'certificate' | 'none' {
    const { params, app } = ctx;
    const secret = params.get('client_secret') ?? ctx.basicSecret;
    const assertion = params.get('client_assertion');
    const assertionType = params.get('client_assertion_type');
    if (secret !== undefined && assertion !== undefined) {
      throw new TokenError('invalid_request', 90014, "The request must contain only one client credential: 'client_secret' or 'client_assertion', not both.");
    }
    const confidential = app.secretHash !== undefined || app.certificates.length > 0;
    if (secret === undefined && assertion === undefined) {
      if (requireCredential) {
        throw new TokenError('invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.", 401);
      }
      if (confidential) throw new TokenError('invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", 401);
      return 'none';
    }
    if (secret !== undefined) {
      const ok = app.secretHash !== undefined && timingSafeEqual(sha256(secret), app.secretHash);
      if (!ok) {
        throw new TokenError('invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`, 401);
      }
      return 'secret';
    }
    if (!assertionType) throw missingParam('client_assertion_type');
    if (assertionType !== CLIENT_ASSERTION_TYPE_JWT_BEARER) {
      throw new TokenError('invalid_request', 50027, `Invalid client_assertion_type '${assertionType}'; use '${CLIENT_ASSERTION_TYPE_JWT_BEARER}'.`);
    }
    this.verifyClientAssertion(ctx, assertion!);
    return 'certificate';
  }

  private verifyClientAssertion(ctx: TokenContext, assertion: string): void {
    const { app } = ctx;
    const invalid = (code: number, text: string) => new TokenError('invalid_client', code, text, 401);
    let jwt: DecodedJwt;
    try {
      jwt = decodeJwt(assertion);
    } catch (err) {
      if (err instanceof JwtFormatError) throw invalid(50027, `JWT token is invalid or malformed (${err.message}).`);
      throw err;
    }
    if (jwt.header.kid === this.kid && app.federated.length > 0) return this.verifyFederatedAssertion(ctx, jwt);
    const alg = jwt.header.alg;
    if (alg !== 'RS256' && alg !== 'PS256') {
      throw invalid(50027, `JWT token is invalid or malformed: client assertion alg '${String(alg)}' is not supported; use RS256 with x5t or PS256 with x5t#S256.`);
    }
    const s256 = jwt.header['x5t#S256'];
    const s1 = jwt.header.x5t;
    if (typeof s256 !== 'string' && typeof s1 !== 'string') {
      throw invalid(50027, 'JWT token is invalid or malformed: the client assertion header has neither x5t nor x5t#S256 (the certificate thumbprint).');
    }
    const cert = app.certificates.find((c) => (typeof s256 === 'string' ? c.x5tS256 === s256 : c.x5t === s1));
    const shownThumbprint = Buffer.from(String(typeof s256 === 'string' ? s256 : s1), 'base64url').toString('hex').toUpperCase();
    if (!cert) {
      throw invalid(700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${shownThumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`);
    }
    const x5c = jwt.header.x5c;
    if (x5c !== undefined) {
      const leaf = Array.isArray(x5c) && typeof x5c[0] === 'string' ? Buffer.from(x5c[0], 'base64') : undefined;
      if (!leaf || !leaf.equals(cert.der)) {
        throw invalid(700027, `Client assertion failed signature validation. [Reason - The first certificate in the x5c header is not the certificate with thumbprint '${shownThumbprint}'.]`);
      }
    }
    if (!verifyJwtSignature(jwt, alg, cert.publicKey)) {
      throw invalid(700027, `Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${shownThumbprint}', Found key 'Start=${cert.validFrom}, End=${cert.validTo}']`);
    }
    const c = jwt.payload;
    if (c.iss !== app.clientId || c.sub !== app.clientId) {
      throw invalid(700021, `Client assertion application identifier doesn't match 'client_id' parameter: iss and sub must both be '${app.clientId}'. ${DOC_CERT_CREDENTIALS}`);
    }
    const audiences = this.assertionAudiences(ctx);
    if (typeof c.aud !== 'string' || !audiences.has(c.aud.toLowerCase().replace(/\/+$/, ''))) {
      throw invalid(700023, `Client assertion audience claim does not match Realm issuer. The aud claim '${typeof c.aud === 'string' ? c.aud : typeof c.aud}' must be the token endpoint URL, e.g. '${[...audiences][0]}'. ${DOC_CERT_CREDENTIALS}`);
    }
    const now = this.clock.now();
    if (typeof c.exp !== 'number' || (c.nbf !== undefined && typeof c.nbf !== 'number')) {
      throw invalid(50027, 'JWT token is invalid or malformed: the client assertion must carry a numeric exp (and a numeric nbf when present).');
    }
    const nbf = typeof c.nbf === 'number' ? c.nbf : undefined;
    if (c.exp * 1000 <= now || (nbf !== undefined && nbf * 1000 > now + this.skewSec * 1000)) {
      throw invalid(700024, `Client assertion is not within its valid time range. Current time: ${isoSeconds(now)}, assertion valid from ${nbf === undefined ? 'unset' : isoSeconds(nbf * 1000)}, expiry time of assertion ${isoSeconds(c.exp * 1000)}. ${DOC_CERT_CREDENTIALS}`);
    }
    if (typeof c.jti !== 'string' || !c.jti) {
      throw invalid(50027, 'JWT token is invalid or malformed: the client assertion has no jti claim (use a fresh GUID per assertion).');
    }
    for (const [k, until] of this.usedJtis) if (until <= now) this.usedJtis.delete(k);
    const jtiKey = `${app.clientId}\u0000${c.jti}`;
    if (this.usedJtis.has(jtiKey)) {
      throw invalid(50027, `JWT token is invalid or malformed: the client assertion with jti '${c.jti}' was already used (replay); sign a new assertion with a new jti for each request. (Simulator wording; Entra rejects replays without a documented code.)`);
    }
    this.usedJtis.set(jtiKey, c.exp * 1000 + this.skewSec * 1000);
  }

  /** A token issued by this simulator presented as a federated credential (Entra's AADSTS7002xx texts). */
  private verifyFederatedAssertion(ctx: TokenContext, jwt: DecodedJwt): void {
    const { app } = ctx;
    const invalid = (code: number, text: string) => new TokenError('invalid_client', code, text, 401);
    if (!verifyJwtSignature(jwt, 'RS256', this.verificationKey)) throw invalid(700027, 'Client assertion failed signature validation.');
    const c = jwt.payload;
    const iss = typeof c.iss === 'string' ? c.iss.replace(/\/+$/, '') : '';
    const byIssuer = app.federated.filter((f) => f.issuer.replace(/\/+$/, '') === iss);
    if (byIssuer.length === 0) throw invalid(700211, `No matching federated identity record found for presented assertion issuer '${iss}'.`);
    const bySubject = byIssuer.filter((f) => f.subject === c.sub);
    if (bySubject.length === 0) throw invalid(700213, `No matching federated identity record found for presented assertion subject '${String(c.sub)}'.`);
    const aud = typeof c.aud === 'string' ? c.aud : '';
    if (!bySubject.some((f) => (f.audiences ?? []).some((a) => normResource(a) === normResource(aud)))) {
      throw invalid(700212, `No matching federated identity record found for presented assertion audience '${aud}'.`);
    }
    if (typeof c.exp !== 'number' || c.exp * 1000 <= this.clock.now()) {
      throw invalid(700024, `Client assertion is not within its valid time range. Current time: ${isoSeconds(this.clock.now())}.`);
    }
  }

  /** The token endpoint URLs a client assertion may name as `aud` for this request (lower case, no trailing slash). */
  private assertionAudiences(ctx: TokenContext): Set<string> {
    const path = ctx.version === 'v2' ? 'oauth2/v2.0/token' : 'oauth2/token';
    const origins = new Set([this.origin(ctx.req)]);
    if (ctx.req.headers.host) {
      const encrypted = (ctx.req.socket as { encrypted?: boolean }).encrypted === true;
      origins.add(`${encrypted ? 'https' : 'http'}://${ctx.req.headers.host}`);
    }
    const tenants = new Set([ctx.tenant.tenantId, ctx.tenantSegment, ...ctx.tenant.domains]);
    const out = new Set<string>();
    for (const o of origins) for (const t of tenants) out.add(`${o}/${t}/${path}`.toLowerCase());
    return out;
  }

  private clientCredentials(ctx: TokenContext): Record<string, unknown> {
    const acr = this.authenticateClient(ctx, true);
    let resource: string;
    if (ctx.version === 'v2') {
      const scope = ctx.params.get('scope');
      if (!scope) throw missingParam('scope');
      const scopes = scope.split(/\s+/).filter(Boolean);
      const resources = new Set<string>();
      for (const s of scopes) {
        const m = /^(.*?)\/+\.default$/i.exec(s);
        if (!m || !m[1]) {
          throw new TokenError('invalid_scope', 1002012, `The provided value for scope ${s} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
        }
        resources.add(m[1]);
      }
      if (resources.size !== 1) {
        throw new TokenError('invalid_scope', 70011, `The provided value for the input parameter 'scope' isn't valid. The scope ${scope} isn't valid. All scopes in one request must belong to one resource.`);
      }
      resource = [...resources][0]!;
    } else {
      const r = ctx.params.get('resource');
      if (!r) throw missingParam('resource');
      resource = r;
    }
    const known = this.requireResource(resource, ctx.tenant);
    const roles = ctx.app.appRoles.get(normResource(known)) ?? [];
    const issued = this.issueAccessToken(ctx, known, {
      roles: roles.length > 0 ? roles : undefined,
      oid: derivedGuid('sp', ctx.tenant.tenantId, ctx.app.clientId),
      acr: acr === 'certificate' ? '2' : '1',
      appOnly: true,
    });
    return this.tokenResponse(ctx.version, known, issued, {});
  }

  private requireResource(resource: string, tenant: TenantState): string {
    const known = this.knownResource(resource);
    if (!known) {
      throw new TokenError('invalid_resource', 500011, `The resource principal named ${resource} was not found in the tenant named ${tenant.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`);
    }
    return known;
  }

  /**
   * Resource and scp for a delegated (user) token. v2: from `scope` (all scopes of one resource,
   * bare names meaning Graph, `.default` meaning every consented scope). v1: every consented
   * scope of `resource`.
   */
  private delegatedGrant(ctx: TokenContext, scopeParam: string | undefined, resourceParam: string | undefined): { resource: string; scp: string[]; requested: string[] } {
    let resource: string | undefined;
    let names: string[] | 'all' = 'all';
    const requested = (scopeParam ?? '').split(/\s+/).filter(Boolean);
    if (ctx.version === 'v1' || resourceParam !== undefined) {
      if (!resourceParam) throw missingParam('resource');
      resource = resourceParam;
    } else {
      const resourceScopes = requested.filter((s) => !OIDC_SCOPES.has(s.toLowerCase()));
      const byResource = new Map<string, string[]>();
      for (const s of resourceScopes) {
        const m = /^(.+:\/\/[^/]+(?:\/[^/]+)*?)\/+([^/]+)$/.exec(s);
        const r = m ? m[1]! : GRAPH;
        const name = m ? m[2]! : s;
        const list = byResource.get(normResource(r)) ?? [];
        list.push(name);
        byResource.set(normResource(r), list);
        resource = r;
      }
      if (byResource.size > 1) {
        throw new TokenError('invalid_scope', 70011, `The provided value for the input parameter 'scope' isn't valid. The scope ${scopeParam ?? ''} isn't valid. All scopes in one request must belong to one resource.`);
      }
      if (!resource) resource = GRAPH;
      const list = byResource.get(normResource(resource)) ?? ['.default'];
      names = list.some((n) => n.toLowerCase() === '.default') ? 'all' : list;
    }
    const known = this.requireResource(resource, ctx.tenant);
    const consented = ctx.app.delegatedScopes.get(normResource(known)) ?? [];
    const scp = names === 'all' ? consented : names;
    const missing = names === 'all' ? [] : names.filter((n) => !consented.some((c) => c.toLowerCase() === n.toLowerCase()));
    if (scp.length === 0 || missing.length > 0) {
      throw new TokenError('invalid_grant', 65001, `The user or administrator has not consented to use the application with ID '${ctx.app.clientId}'. Send an interactive authorization request for this user and resource. (Not consented for ${known}: ${missing.length ? missing.join(', ') : 'no delegated permissions'}.)`);
    }
    return { resource: known, scp, requested };
  }

  private authorizationCodeGrant(ctx: TokenContext): Record<string, unknown> {
    const code = ctx.params.get('code');
    if (!code) throw missingParam('code');
    const redirectUri = ctx.params.get('redirect_uri');
    if (!redirectUri) throw missingParam('redirect_uri');
    const acr = this.authenticateClient(ctx, false);
    const rec = this.codes.get(code);
    if (!rec) throw new TokenError('invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid. (The authorization code is not one this directory issued.)');
    if (rec.clientId !== ctx.app.clientId || rec.tenantId !== ctx.tenant.tenantId) {
      throw new TokenError('invalid_grant', 70000, 'Provided grant is invalid or malformed: the authorization code was issued to another client or tenant.');
    }
    if (rec.redeemed) {
      throw new TokenError('invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
    }
    if (this.clock.now() >= rec.expiresAt) {
      throw new TokenError('invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
    }
    if (redirectUri !== rec.redirectUri) {
      throw new TokenError('invalid_grant', 500112, `The reply address '${redirectUri}' does not match the reply address '${rec.redirectUri}' provided when requesting Authorization code.`);
    }
    if (rec.codeChallenge !== undefined) {
      const verifier = ctx.params.get('code_verifier');
      if (!verifier) throw missingParam('code_verifier');
      const computed = rec.codeChallengeMethod === 'plain' ? verifier : createHash('sha256').update(verifier).digest('base64url');
      if (computed !== rec.codeChallenge) throw new TokenError('invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
    }
    rec.redeemed = true;
    const scopeParam = ctx.params.get('scope') ?? rec.scope;
    const resourceParam = ctx.params.get('resource') ?? (ctx.version === 'v1' ? rec.resource ?? resourceOfScope(rec.scope) : undefined);
    const grant = this.delegatedGrant(ctx, scopeParam, resourceParam);
    const offline = ctx.version === 'v1' || `${rec.scope} ${scopeParam}`.split(/\s+/).some((s) => s.toLowerCase() === 'offline_access');
    return this.delegatedResponse(ctx, grant, acr, offline, rec.scope);
  }

  private refreshTokenGrant(ctx: TokenContext): Record<string, unknown> {
    const token = ctx.params.get('refresh_token');
    if (!token) throw missingParam('refresh_token');
    const acr = this.authenticateClient(ctx, false);
    const rec = this.refreshTokens.get(token);
    if (!rec) throw new TokenError('invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid. (The refresh token is not one this directory issued.)');
    if (rec.clientId !== ctx.app.clientId || rec.tenantId !== ctx.tenant.tenantId) {
      throw new TokenError('invalid_grant', 70000, 'Provided grant is invalid or malformed: the refresh token was issued to another client or tenant.');
    }
    if (rec.state === 'revoked' || this.clock.now() >= rec.expiresAt) {
      throw new TokenError('invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
    }
    if (rec.state === 'redeemed' && this.refreshTokenReuse === 'reject') {
      throw new TokenError('invalid_grant', 70000, 'Provided grant is invalid or malformed: this refresh token was already redeemed and replaced by the one returned with it; store and use the newest refresh token. (Simulator strictness refreshTokenReuse=reject; Entra itself keeps a redeemed refresh token valid until it expires.)');
    }
    const scopeParam = ctx.params.get('scope') ?? (ctx.version === 'v2' ? rec.scope : undefined);
    const resourceParam = ctx.params.get('resource') ?? (ctx.version === 'v1' ? rec.resource : undefined);
    const grant = this.delegatedGrant(ctx, scopeParam, resourceParam);
    rec.state = 'redeemed';
    return this.delegatedResponse(ctx, grant, acr, true, rec.scope);
  }

  private delegatedResponse(ctx: TokenContext, grant: { resource: string; scp: string[]; requested: string[] }, acr: 'secret' | 'certificate' | 'none', offline: boolean, originalScope: string): Record<string, unknown> {
    const userOid = derivedGuid('user', ctx.tenant.tenantId);
    const issued = this.issueAccessToken(ctx, grant.resource, { scp: grant.scp.join(' '), oid: userOid, acr: acr === 'certificate' ? '2' : acr === 'secret' ? '1' : '0', appOnly: false });
    const extra: Record<string, unknown> = {};
    const isGraph = normResource(grant.resource) === GRAPH;
    const oidc = grant.requested.filter((s) => OIDC_SCOPES.has(s.toLowerCase()) && s.toLowerCase() !== 'offline_access');
    extra.scope = [...grant.scp.map((s) => (isGraph ? s : `${grant.resource}/${s}`)), ...oidc].join(' ');
    if (ctx.version === 'v1') extra.scope = grant.scp.join(' ');
    if (offline) {
      const rt = mintOpaque('0.A', 420);
      this.refreshTokens.set(rt, {
        tenantId: ctx.tenant.tenantId,
        clientId: ctx.app.clientId,
        resource: grant.resource,
        scope: ctx.params.get('scope') ?? originalScope,
        expiresAt: this.clock.now() + this.refreshLifetimeSec * 1000,
        state: 'active',
      });
      extra.refresh_token = rt;
    }
    if (ctx.version === 'v2' && oidc.some((s) => s.toLowerCase() === 'openid')) {
      extra.id_token = signJwtRs256({
        aud: ctx.app.clientId,
        iss: `${this.origin(ctx.req)}/${ctx.tenant.tenantId}/v2.0`,
        iat: issued.iat,
        nbf: issued.iat,
        exp: issued.exp,
        oid: userOid,
        sub: derivedGuid('sub', ctx.tenant.tenantId, ctx.app.clientId),
        tid: ctx.tenant.tenantId,
        preferred_username: `simulated.user@${ctx.tenant.domains[0] ?? 'simulator.invalid'}`,
        name: 'Simulated User',
        ver: '2.0',
      }, this.signingKey, { kid: this.kid });
    }
    if (ctx.params.get('client_info') === '1') {
      extra.client_info = base64UrlEncode(JSON.stringify({ uid: userOid, utid: ctx.tenant.tenantId }));
    }
    return this.tokenResponse(ctx.version, grant.resource, issued, extra);
  }

  private issueAccessToken(ctx: TokenContext, resource: string, who: { roles?: string[]; scp?: string; oid: string; acr: string; appOnly: boolean }): { token: string; iat: number; exp: number } {
    const iat = Math.floor(this.clock.now() / 1000);
    const exp = iat + Math.round(this.tokenLifetimeSec);
    const tid = ctx.tenant.tenantId;
    const v2 = ctx.version === 'v2';
    const claims: Record<string, unknown> = {
      aud: resource,
      iss: v2 ? `${this.origin(ctx.req)}/${tid}/v2.0` : `https://sts.windows.net/${tid}/`,
      iat,
      nbf: iat,
      exp,
      aio: base64UrlEncode(randomBytes(24)),
      appid: ctx.app.clientId,
      appidacr: who.acr,
      idp: v2 ? `${this.origin(ctx.req)}/${tid}/v2.0` : `https://sts.windows.net/${tid}/`,
      oid: who.oid,
      sub: who.oid,
      tid,
      uti: base64UrlEncode(randomBytes(16)),
      ver: v2 ? '2.0' : '1.0',
    };
    if (v2) {
      claims.azp = ctx.app.clientId;
      claims.azpacr = who.acr;
    }
    if (who.roles) claims.roles = who.roles;
    if (who.scp !== undefined) claims.scp = who.scp;
    if (!who.appOnly) claims.name = 'Simulated User';
    return { token: signJwtRs256(claims, this.signingKey, { kid: this.kid, x5t: this.kid }), iat, exp };
  }

  private tokenResponse(version: Version, resource: string, issued: { token: string; iat: number; exp: number }, extra: Record<string, unknown>): Record<string, unknown> {
    const lifetime = issued.exp - issued.iat;
    if (version === 'v2') {
      return { token_type: 'Bearer', ...('scope' in extra ? { scope: extra.scope } : {}), expires_in: lifetime, ext_expires_in: lifetime, access_token: issued.token, ...omit(extra, 'scope') };
    }
    const n = (v: number) => (this.v1Strings ? String(v) : v);
    return {
      token_type: 'Bearer',
      ...('scope' in extra ? { scope: extra.scope } : {}),
      expires_in: n(lifetime),
      ext_expires_in: n(lifetime),
      expires_on: n(issued.exp),
      not_before: n(issued.iat),
      resource,
      access_token: issued.token,
      ...omit(extra, 'scope'),
    };
  }

  private mintCode(rec: Omit<AuthorizationCodeRecord, 'expiresAt' | 'redeemed'>): string {
    const now = this.clock.now();
    for (const [k, v] of this.codes) if (v.expiresAt + 3600_000 < now) this.codes.delete(k);
    // Real codes are opaque and long (Sumo Logic notes "over 700 characters"); a collector that
    // truncates them should fail here too.
    const code = mintOpaque('1.A', 720);
    this.codes.set(code, { ...rec, expiresAt: now + this.codeLifetimeSec * 1000, redeemed: false });
    return code;
  }

  // ------------------------------------------------------------------ authorize (no UI, auto-consent)

  private async handleAuthorize(req: IncomingMessage, res: ServerResponse, url: URL, tenantSegment: string, version: Version): Promise<void> {
    const params = new URLSearchParams(url.search);
    if ((req.method ?? 'GET').toUpperCase() === 'POST') for (const [k, v] of await readForm(req)) params.set(k, v);
    const bad = (error: string, code: number, text: string) => this.sendAadError(req, res, new TokenError(error, code, text));
    const clientId = params.get('client_id');
    if (!clientId) return bad('invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    let tenant = this.resolveTenant(tenantSegment);
    if (!tenant && ['common', 'organizations'].includes(tenantSegment.toLowerCase())) {
      tenant = [...this.tenants.values()].find((t) => t.apps.has(clientId.toLowerCase()));
    }
    if (!tenant) return bad('invalid_request', 90002, `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    const app = tenant.apps.get(clientId.toLowerCase());
    if (!app) return bad('unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenantSegment}'.`);
    if (app.redirectUris.length === 0) return bad('invalid_request', 500113, 'No reply address is registered for the application.');
    const redirectUri = params.get('redirect_uri') ?? app.redirectUris[0]!;
    if (!app.redirectUris.includes(redirectUri)) {
      return bad('invalid_request', 50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${app.clientId}'.`);
    }
    const target = new URL(redirectUri);
    const state = params.get('state');
    const redirectError = (error: string, description: string) => {
      target.searchParams.set('error', error);
      target.searchParams.set('error_description', description);
      if (state !== null) target.searchParams.set('state', state);
      res.writeHead(302, { location: target.toString() });
      res.end();
    };
    if (params.get('response_type') !== 'code') return redirectError('unsupported_response_type', "AADSTS700054: response_type must be 'code' in the simulator.");
    let scope: string;
    let resource: string | undefined;
    if (version === 'v1') {
      resource = params.get('resource') ?? undefined;
      if (!resource) return redirectError('invalid_request', "AADSTS900144: The request body must contain the following parameter: 'resource'.");
      scope = `${resource.replace(/\/+$/, '')}/.default`;
    } else {
      const s = params.get('scope');
      if (!s) return redirectError('invalid_request', "AADSTS900144: The request body must contain the following parameter: 'scope'.");
      scope = s;
    }
    const challenge = params.get('code_challenge') ?? undefined;
    const method = params.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
    if (method !== undefined && method !== 'S256' && method !== 'plain') return redirectError('invalid_request', `AADSTS501491: Invalid code_challenge_method '${method}'.`);
    const code = this.mintCode({
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      redirectUri,
      scope,
      resource,
      codeChallenge: challenge,
      codeChallengeMethod: method as 'S256' | 'plain' | undefined,
    });
    target.searchParams.set('code', code);
    if (state !== null) target.searchParams.set('state', state);
    target.searchParams.set('session_state', derivedGuid('session', tenant.tenantId, app.clientId));
    res.writeHead(302, { location: target.toString(), 'cache-control': 'no-store' });
    res.end();
  }

  // ------------------------------------------------------------------ discovery

  private handleOpenIdConfiguration(req: IncomingMessage, res: ServerResponse, tenantSegment: string, version: Version): void {
    const origin = this.origin(req);
    const tenant = this.resolveTenant(tenantSegment);
    const generic = ['common', 'organizations', 'consumers'].includes(tenantSegment.toLowerCase());
    if (!tenant && !generic) {
      this.sendAadError(req, res, new TokenError('invalid_tenant', 90002, `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`));
      return;
    }
    const t = tenant ? tenant.tenantId : tenantSegment.toLowerCase();
    const issuerTenant = tenant ? tenant.tenantId : '{tenantid}';
    const v2 = version === 'v2';
    sendJson(res, 200, {
      token_endpoint: `${origin}/${t}/oauth2/${v2 ? 'v2.0/' : ''}token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${origin}/${t}/discovery/${v2 ? 'v2.0/' : ''}keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: v2 ? `${origin}/${issuerTenant}/v2.0` : `https://sts.windows.net/${issuerTenant}/`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${origin}/${t}/oauth2/${v2 ? 'v2.0/' : ''}authorize`,
      device_authorization_endpoint: `${origin}/${t}/oauth2/${v2 ? 'v2.0/' : ''}devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${origin}/${t}/oauth2/${v2 ? 'v2.0/' : ''}logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'name', 'preferred_username', 'roles', 'scp', 'appid', 'azp'],
      kerberos_endpoint: `${origin}/${t}/kerberos`,
      tenant_region_scope: 'WW',
      cloud_instance_name: new URL(origin).host,
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    });
  }

  private handleInstanceDiscovery(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const origin = this.origin(req);
    const host = new URL(origin).host;
    const authorize = url.searchParams.get('authorization_endpoint');
    let tenant = 'common';
    if (authorize && URL.canParse(authorize)) tenant = new URL(authorize).pathname.split('/').filter(Boolean)[0] ?? 'common';
    sendJson(res, 200, {
      tenant_discovery_endpoint: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

interface TokenContext {
  req: IncomingMessage;
  tenant: TenantState;
  app: AppState;
  version: Version;
  params: FormParams;
  basicSecret?: string;
  tenantSegment: string;
}

/** Form parameters; `get` returns undefined for an absent or empty parameter. */
class FormParams implements Iterable<[string, string]> {
  constructor(private readonly p: URLSearchParams) {}
  get(name: string): string | undefined {
    const v = this.p.get(name);
    return v === null || v === '' ? undefined : v;
  }
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.p[Symbol.iterator]();
  }
}

type Route =
  | { kind: 'token' | 'authorize' | 'openid' | 'keys'; tenant: string; version: Version }
  | { kind: 'instance'; tenant: string };

function matchRoute(pathname: string): Route | undefined {
  const segs = pathname.split('/').filter(Boolean);
  if (segs.length < 2) return undefined;
  let tenant: string;
  try {
    tenant = decodeURIComponent(segs[0]!);
  } catch {
    return undefined;
  }
  if (!/^[A-Za-z0-9.-]{1,253}$/.test(tenant)) return undefined;
  const rest = segs.slice(1).join('/').toLowerCase();
  switch (rest) {
    case 'oauth2/v2.0/token':
      return { kind: 'token', tenant, version: 'v2' };
    case 'oauth2/token':
      return { kind: 'token', tenant, version: 'v1' };
    case 'oauth2/v2.0/authorize':
      return { kind: 'authorize', tenant, version: 'v2' };
    case 'oauth2/authorize':
      return { kind: 'authorize', tenant, version: 'v1' };
    case 'v2.0/.well-known/openid-configuration':
      return { kind: 'openid', tenant, version: 'v2' };
    case '.well-known/openid-configuration':
      return { kind: 'openid', tenant, version: 'v1' };
    case 'discovery/v2.0/keys':
      return { kind: 'keys', tenant, version: 'v2' };
    case 'discovery/keys':
      return { kind: 'keys', tenant, version: 'v1' };
    case 'discovery/instance':
      return { kind: 'instance', tenant };
    default:
      return undefined;
  }
}

function missingParam(name: string): TokenError {
  return new TokenError('invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
}

function resourceOfScope(scope: string): string | undefined {
  for (const s of scope.split(/\s+/)) {
    const m = /^(.+:\/\/[^/]+(?:\/[^/]+)*?)\/+[^/]+$/.exec(s);
    if (m) return m[1];
  }
  return undefined;
}

function mintOpaque(prefix: string, length: number): string {
  return (prefix + randomBytes(Math.ceil((length * 3) / 4)).toString('base64url')).slice(0, length);
}

function omit(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = o;
  return rest;
}

/** client_id and secret from `Authorization: Basic` (RFC 6749 2.3.1: each form-urlencoded). */
function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw new TokenError('invalid_request', 900144, "The request body must contain the following parameter: 'client_id' (the Basic Authorization header is not client_id:client_secret).");
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { clientId: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1)) };
}

async function readForm(req: IncomingMessage): Promise<FormParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) throw new TokenError('invalid_request', 900144, `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(b);
  }
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  // Entra reads only form bodies; JSON or anything else looks like a body without parameters.
  if (type !== 'application/x-www-form-urlencoded') return new FormParams(new URLSearchParams());
  return new FormParams(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function methodNotAllowed(res: ServerResponse, allow: string): true {
  sendJson(res, 405, { error: 'invalid_request', error_description: `Method not allowed; use ${allow}.` }, { allow });
  return true;
}
