/**
 * Preflight diagnostics for one source (issue 8): get a token and decode it, check the permission
 * the API needs, run a one-row probe query, and name the one fix for what is broken. The result
 * uses the Sumo-style states users know: Pending, Started, Initialized, Authenticated, Collecting,
 * or Error with the fix in words.
 *
 * It goes through the same credential and MessageTraceClient as collection (clientsFor), so a
 * diagnosis that says Collecting means the page worker will collect.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { MessageTraceClient } from '../api/client';
import { classifyTokenError, GRAPH_PERMISSION, MESSAGE_TRACE_APP_ID } from '../api/graph/client';
import { RWS_DELEGATED_PERMISSION, RWS_PERMISSION } from '../api/rws/client';
import { apiScopeOf } from '../auth/credentials';
import { describeSecretRef } from '../auth/secrets';
import type { SourceConfig } from '../components';
import { asCollectorError, CollectorError } from '../errors';
import type { Clock } from '../time/clock';

export type DiagnosisState = 'Pending' | 'Started' | 'Initialized' | 'Authenticated' | 'Collecting' | 'Error';

export type DiagnosisCode =
  | 'SourceDisabled'
  | 'WrongTenant'
  | 'ExpiredSecret'
  | 'WrongSecret'
  | 'AppNotInTenant'
  | 'FederatedCredentialMismatch'
  | 'CredentialUnavailable'
  | 'TokenFailed'
  | 'MissingPermission'
  | 'MissingServicePrincipal'
  | 'MissingDirectoryRole'
  | 'ProbeFailed'
  | 'NetworkFailure'
  | 'Ok';

export interface TokenInfo {
  tenantId?: string;
  appId?: string;
  audience?: string;
  roles: string[];
  scopes: string[];
  expiresAt?: string;
}

export interface DiagnosisStep {
  step: 'config' | 'token' | 'permission' | 'probe';
  ok: boolean;
  detail: string;
}

export interface Diagnosis {
  sourceId: string;
  api: 'graph' | 'rws';
  authMethod: SourceConfig['auth']['method'];
  state: DiagnosisState;
  /** The furthest state reached before an error (equal to `state` when there is none). */
  reached: DiagnosisState;
  code: DiagnosisCode;
  /** What is wrong (or that all is well), in one sentence. */
  message: string;
  /** What to do, in words (present in the Error state). */
  fix?: string;
  checkedAt: string;
  token?: TokenInfo;
  /** Rows the probe query returned (0 or 1). */
  probeRows?: number;
  steps: DiagnosisStep[];
  /** The underlying error of a failure (shown with --verbose; never a secret). */
  cause?: string;
}

export interface DiagnoseDeps {
  credential: TokenCredential;
  api: MessageTraceClient;
  clock: Clock;
}

/** The permission the source's API needs, as application role and as delegated scope. */
export function requiredPermission(source: SourceConfig): { role: string; scope: string; resource: string } {
  return source.api === 'rws'
    ? { role: RWS_PERMISSION, scope: RWS_DELEGATED_PERMISSION, resource: 'Office 365 Exchange Online' }
    : { role: GRAPH_PERMISSION, scope: GRAPH_PERMISSION, resource: 'Microsoft Graph' };
}

/** Decodes an access token's claims (no signature check: the token came from our own credential). */
export function decodeAccessToken(token: string): TokenInfo {
  const part = token.split('.')[1];
  let claims: Record<string, unknown> = {};
  try {
    claims = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    // not a JWT: leave the claims empty
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    ...(str(claims.tid) ? { tenantId: str(claims.tid) } : {}),
    ...(str(claims.appid) ?? str(claims.azp) ? { appId: str(claims.appid) ?? str(claims.azp) } : {}),
    ...(str(claims.aud) ? { audience: str(claims.aud) } : {}),
    roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    scopes: typeof claims.scp === 'string' ? claims.scp.split(' ').filter(Boolean) : [],
    ...(typeof claims.exp === 'number' ? { expiresAt: new Date(claims.exp * 1000).toISOString() } : {}),
  };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function secretRefText(source: SourceConfig): string {
  return source.auth.method === 'clientSecret' ? describeSecretRef(source.auth.clientSecret) : 'the secret the source references';
}

function tokenFailure(source: SourceConfig, e: CollectorError): { code: DiagnosisCode; message: string; fix: string } {
  const text = `${e.code} ${e.message} ${e.excerpt ?? ''}`;
  const where = source.auth.method === 'certificate' ? 'the certificate' : 'the secret';
  // A network or TLS failure at the authority (shared/api/network.ts): transient, and never the tenant's fault.
  if (e.code.startsWith('Network.')) {
    return { code: 'NetworkFailure', message: e.message, fix: e.fix ?? 'Check the network path to the authority.' };
  }
  // Only Entra ID's own answer says the tenant is unknown (MSAL's endpoints_resolution_error is
  // explained by SourceCredential, which asks the authority what went wrong).
  if (/AADSTS(90002|900023|90072)\b/.test(text)) {
    return { code: 'WrongTenant', message: `Entra ID does not know the tenant "${source.tenantId}" at ${source.endpoints.authorityHost} (${source.cloud} cloud).`, fix: `Check the source's tenantId (the Directory (tenant) ID on the tenant's Entra overview page) and its cloud.` };
  }
  if (/AADSTS7000222\b/.test(text)) {
    return { code: 'ExpiredSecret', message: 'The client secret has expired.', fix: `In Entra ID > App registrations > the app > Certificates & secrets, create a new client secret and store its VALUE at ${secretRefText(source)} (auth.clientSecretRef). Consider the certificate or federated method to avoid expiring secrets.` };
  }
  if (/AADSTS7000215\b/.test(text)) {
    return { code: 'WrongSecret', message: 'The client secret is wrong.', fix: `Store the secret VALUE (not the secret ID) at ${secretRefText(source)} (auth.clientSecretRef).` };
  }
  if (/AADSTS700016\b/.test(text)) {
    return { code: 'AppNotInTenant', message: `The app ${'clientId' in source.auth ? source.auth.clientId : ''} is not registered or consented in tenant ${source.tenantId}.`, fix: 'Check auth.clientId and tenantId. For a multi-tenant app, an administrator of this tenant must consent it once (https://login.microsoftonline.com/<tenant>/adminconsent?client_id=<app id>).' };
  }
  if (/AADSTS70021[1-3]\b/.test(text)) {
    return { code: 'FederatedCredentialMismatch', message: 'Entra ID has no federated credential on the app that matches the managed identity token (issuer, subject or audience).', fix: 'On the app registration, add a federated credential of type "Managed identity" (issuer https://login.microsoftonline.com/<home tenant>/v2.0, subject = the managed identity\'s object (principal) id, audience api://AzureADTokenExchange); see docs/auth.md.' };
  }
  if (/AADSTS700027\b/.test(text)) {
    return { code: 'TokenFailed', message: `Entra ID rejected ${where}.`, fix: e.fix ?? 'Upload the certificate (public part) to the app registration, or check its thumbprint form (auth.thumbprint).' };
  }
  if (/ManagedIdentity|managed identity|IMDS|CredentialUnavailable/i.test(text)) {
    return { code: 'CredentialUnavailable', message: 'No managed identity is available here.', fix: 'Turn on the function app\'s managed identity (or set auth.managedIdentityClientId to the user-assigned identity attached to it); managed identity works only in Azure.' };
  }
  return { code: 'TokenFailed', message: e.message, fix: e.fix ?? 'Check the auth block of the source against docs/auth.md.' };
}

/** The underlying cause of an error, one line per level (for --verbose; secrets are never in these texts). */
function causeText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(`${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}${typeof code === 'string' ? ` (${code})` : ''}`.replace(/client_secret=[^&\s]*/g, 'client_secret=***'));
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(' <- ');
}

/** Runs the preflight checks for one source. Never throws: every failure is a Diagnosis in the Error state. */
export async function diagnoseSource(source: SourceConfig, deps: DiagnoseDeps): Promise<Diagnosis> {
  const steps: DiagnosisStep[] = [];
  const checkedAt = new Date(deps.clock.now()).toISOString();
  const base = { sourceId: source.id, api: source.api, authMethod: source.auth.method, checkedAt };
  const reached = (): DiagnosisState => {
    const ok = new Set(steps.filter((s) => s.ok).map((s) => s.step));
    return ok.has('probe') ? 'Collecting' : ok.has('permission') ? 'Authenticated' : ok.has('token') ? 'Initialized' : 'Started';
  };
  const fail = (code: DiagnosisCode, message: string, fix: string, extra: Partial<Diagnosis> = {}): Diagnosis => ({ ...base, state: 'Error', reached: reached(), code, message, fix, steps, ...extra });
  if (!source.enabled) {
    steps.push({ step: 'config', ok: true, detail: 'the source is disabled' });
    return { ...base, state: 'Pending', reached: 'Pending', code: 'SourceDisabled', message: 'The source is disabled, so it is not collected.', fix: 'Set "enabled": true to collect it.', steps };
  }
  steps.push({ step: 'config', ok: true, detail: `api ${source.api}, cloud ${source.cloud}, auth ${source.auth.method}` });

  // Token.
  const scope = apiScopeOf(source);
  let info: TokenInfo;
  try {
    const token = await deps.credential.getToken(scope);
    if (!token) throw new Error('the credential returned no token');
    info = decodeAccessToken(token.token);
  } catch (err) {
    const e = err instanceof CollectorError ? err : classifyTokenError(err);
    const t = tokenFailure(source, e);
    steps.push({ step: 'token', ok: false, detail: e.message });
    return fail(t.code, t.message, t.fix, { cause: causeText(err) });
  }
  steps.push({ step: 'token', ok: true, detail: `tenant ${info.tenantId ?? '?'}, app ${info.appId ?? '?'}, roles [${info.roles.join(', ')}], scopes [${info.scopes.join(', ')}]` });
  if (GUID.test(source.tenantId) && info.tenantId && info.tenantId.toLowerCase() !== source.tenantId.toLowerCase()) {
    return fail('WrongTenant', `The token is for tenant ${info.tenantId}, not the configured ${source.tenantId}.`,
      source.auth.method === 'managedIdentity'
        ? 'A managed identity only gets tokens for its own tenant; for another tenant use the federated method with a multi-tenant app (docs/auth.md).'
        : 'Check the source\'s tenantId.', { token: info });
  }

  // Permission.
  const need = requiredPermission(source);
  const has = info.roles.includes(need.role) || info.scopes.includes(need.scope);
  if (!has) {
    steps.push({ step: 'permission', ok: false, detail: `the token carries neither the role ${need.role} nor the scope ${need.scope}` });
    const who = source.auth.method === 'managedIdentity'
      ? `the managed identity's service principal (app id ${info.appId ?? '?'}): \`az rest --method post --uri https://graph.microsoft.com/v1.0/servicePrincipals/<identity object id>/appRoleAssignments --body '{"principalId":"<identity object id>","resourceId":"<${need.resource} service principal id>","appRoleId":"<${need.role} role id>"}'\` (managed identities have no consent page)`
      : `the app registration (API permissions > Add a permission > ${need.resource} > Application permissions > ${need.role}), then "Grant admin consent"`;
    return fail('MissingPermission', `The token lacks the ${need.resource} permission ${need.role}.`, `Grant ${need.role} to ${who}. Consent takes effect within minutes.`, { token: info });
  }
  steps.push({ step: 'permission', ok: true, detail: `${need.role} present` });

  // Probe: one row of the hour before the collection delay.
  const end = Math.floor((deps.clock.now() - source.collectionDelayMs) / 1000) * 1000;
  try {
    const page = await deps.api.fetchPage({ kind: 'window', startMs: end - 3600_000, endMs: end, top: 1 });
    steps.push({ step: 'probe', ok: true, detail: `${page.rows.length} row(s) in the last hour` });
    return { ...base, state: 'Collecting', reached: 'Collecting', code: 'Ok', message: `Ready: a token for tenant ${info.tenantId ?? source.tenantId} and a probe query that answered with ${page.rows.length} row(s).`, checkedAt, token: info, probeRows: page.rows.length, steps };
  } catch (err) {
    const e = asCollectorError(err);
    steps.push({ step: 'probe', ok: false, detail: e.message });
    if (e.code.startsWith('Network.')) return fail('NetworkFailure', e.message, e.fix ?? 'Check the network path to the API.', { token: info, cause: causeText(err) });
    if (e.code === 'MissingServicePrincipal') {
      return fail('MissingServicePrincipal', `The tenant has no service principal for Microsoft's message trace app ${MESSAGE_TRACE_APP_ID}; this is not a permission problem.`,
        `As an administrator of the tenant run \`az ad sp create --id ${MESSAGE_TRACE_APP_ID}\` (or \`New-MgServicePrincipal -AppId ${MESSAGE_TRACE_APP_ID}\`). Provisioning takes several hours; run the diagnosis again afterwards.`, { token: info });
    }
    if (e.code === 'RwsForbidden') {
      return fail('MissingDirectoryRole', `RWS refused the report although the token carries ${RWS_PERMISSION}: the app's service principal lacks a directory role.`,
        `Assign the Global Reader (or Security Reader) Entra role to the service principal of app ${info.appId ?? '?'}: Entra admin center > Roles and administrators > Global Reader > Add assignments, or \`New-MgRoleManagementDirectoryRoleAssignment -PrincipalId <service principal object id> -RoleDefinitionId f2ef992c-3afb-46b9-b7cf-a126ee74c451 -DirectoryScopeId /\`. Role changes can take up to an hour.`, { token: info });
    }
    if (e.statusCode === 403) {
      return fail('MissingPermission', `${need.resource} denied the probe although the token carries ${need.role}.`, e.fix ?? `Grant admin consent for ${need.role} again and wait a few minutes.`, { token: info });
    }
    return fail('ProbeFailed', `The probe query failed: ${e.message}`, e.fix ?? (e.retryable ? 'This looks transient (throttling or an outage); run the diagnosis again in a few minutes.' : 'Check the source\'s endpoints and API settings.'), { token: info });
  }
}
