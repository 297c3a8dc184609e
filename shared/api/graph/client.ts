/**
 * Microsoft Graph message trace client: fetches ONE page, for a window or a continuation, and
 * validates it. The page worker is exactly a caller that wants one page at a time and persists the
 * continuation (STYLE: Azure SDK paging).
 *
 * Every response that is not a JSON object with a `value` array (HTML sign-in pages, truncated
 * JSON, wrong shapes) becomes a typed, retryable ThirdPartyGeneric error carrying a short excerpt.
 */
import type { TokenCredential } from '@azure/core-auth';
import { CollectorError, excerptOf, thirdPartyConfig, thirdPartyGeneric } from '../../errors';
import type { MessageTraceDetail, MessageTraceRow } from '../../model/row';
import { apiGet, bearerToken, checkApiUrl, pageGetOptions, parseJsonBody } from '../http';
import { retryAfterSeconds } from '../../outbound-http';

/** The one Retry-After parser (shared/outbound-http.ts), also known here for the Graph tests. */
export { retryAfterSeconds };
import type { DetailRequest, DetailResult, MessageTraceClient, PageRequest, PageResult } from '../client';

export const MESSAGE_TRACE_APP_ID = '8bd644d1-64a1-4d4b-ae52-2e0cbf64e373';
export const GRAPH_PERMISSION = 'ExchangeMessageTrace.Read.All';

export type { DetailRequest, DetailResult, PageRequest, PageResult } from '../client';

export interface GraphClientOptions {
  graphBaseUrl: string;
  apiVersion: 'v1.0' | 'beta';
  scope: string;
  credential: TokenCredential;
  timeoutMs?: number;
  /** Called for every HTTP request sent (for budgets and metrics). */
  onRequest?: (info: { statusCode: number | undefined; durationMs: number }) => void;
}

/** An ISO literal with milliseconds, as Graph accepts unquoted in `$filter`. */
export function isoLiteral(ms: number): string {
  return new Date(ms).toISOString();
}

export class GraphMessageTraceClient implements MessageTraceClient {
  private readonly origin: string;
  readonly api: string;
  constructor(private readonly options: GraphClientOptions) {
    this.origin = new URL(options.graphBaseUrl).origin;
    this.api = `graph/${options.apiVersion}`;
  }

  /** The first-page URL for `[startMs, endMs]` (both bounds inclusive at the API; the caller keeps `[start, end)`). */
  windowUrl(startMs: number, endMs: number, top: number): string {
    const filter = `receivedDateTime ge ${isoLiteral(startMs)} and receivedDateTime le ${isoLiteral(endMs)}`;
    const base = this.options.graphBaseUrl.replace(/\/+$/, '');
    return `${base}/${this.options.apiVersion}/admin/exchange/tracing/messageTraces?$filter=${encodeURIComponent(filter)}&$top=${top}`;
  }

  async fetchPage(request: PageRequest, opts: { signal?: AbortSignal; clientRequestId?: string } = {}): Promise<PageResult> {
    const url = request.kind === 'window' ? this.windowUrl(request.startMs, request.endMs, request.top) : request.url;
    this.checkUrl(url, request.kind === 'continuation');
    const token = await this.getToken();
    const response = await apiGet(url, pageGetOptions('Graph', token, this.options, opts));
    const page = parseGraphResponse(response.statusCode, response.headers, response.body, request.kind === 'continuation');
    return { ...page, bytes: Buffer.byteLength(response.body) };
  }

  /**
   * The getDetailsByRecipient URL of one row (B.6): the trace id as a path segment and the
   * recipient as the function's string parameter, its `'` doubled (OData) and the rest
   * percent-encoded (`@` stays as written, as Graph's own examples show it).
   */
  detailUrl(traceId: string, recipientAddress: string): string {
    const base = this.options.graphBaseUrl.replace(/\/+$/, '');
    const quoted = encodeURIComponent(recipientAddress.replace(/'/g, "''")).replace(/%40/g, '@');
    return `${base}/${this.options.apiVersion}/admin/exchange/tracing/messageTraces/${encodeURIComponent(traceId)}/getDetailsByRecipient(recipientAddress='${quoted}')`;
  }

  async fetchDetails(request: DetailRequest, opts: { signal?: AbortSignal; clientRequestId?: string } = {}): Promise<DetailResult> {
    const url = request.kind === 'first' ? this.detailUrl(request.traceId, request.recipientAddress) : request.url;
    this.checkUrl(url, request.kind === 'continuation');
    const token = await this.getToken();
    const response = await apiGet(url, pageGetOptions('Graph', token, this.options, opts));
    const answer = parseGraphDetailResponse(response.statusCode, response.headers, response.body, request.kind === 'continuation');
    return { ...answer, bytes: Buffer.byteLength(response.body) };
  }

  private getToken(): Promise<string> {
    return bearerToken(this.options.credential, this.options.scope, classifyTokenError);
  }

  private checkUrl(url: string, isContinuation: boolean): void {
    checkApiUrl(url, this.origin, { apiName: 'Graph', link: 'nextLink', endpoint: 'Graph endpoint' }, isContinuation);
  }
}


function graphErrorOf(body: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (parsed && typeof parsed === 'object' && parsed.error && typeof parsed.error === 'object') {
      return {
        code: typeof parsed.error.code === 'string' ? parsed.error.code : undefined,
        message: typeof parsed.error.message === 'string' ? parsed.error.message : undefined,
      };
    }
  } catch {
    // not JSON
  }
  return {};
}

/** Maps one Graph response to rows and a nextLink, or to a typed error. Exported for unit tests. */
export function parseGraphResponse(
  statusCode: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  isContinuation: boolean,
): PageResult {
  if (statusCode === 200) {
    const parsed = parseJsonBody(body, statusCode, 'Graph');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray((parsed as { value?: unknown }).value)) {
      throw thirdPartyGeneric('Graph answered with JSON that has no `value` array.', { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(body) });
    }
    const obj = parsed as { value: unknown[]; '@odata.nextLink'?: unknown };
    const rows: MessageTraceRow[] = [];
    for (const [i, item] of obj.value.entries()) {
      if (!item || typeof item !== 'object' || typeof (item as MessageTraceRow).id !== 'string' ||
        typeof (item as MessageTraceRow).recipientAddress !== 'string' || typeof (item as MessageTraceRow).receivedDateTime !== 'string') {
        throw thirdPartyGeneric(`Graph row ${i} lacks a string id, recipientAddress or receivedDateTime.`, {
          code: 'UnexpectedShape', statusCode, excerpt: excerptOf(JSON.stringify(item)),
        });
      }
      rows.push(item as MessageTraceRow);
    }
    const next = obj['@odata.nextLink'];
    if (next !== undefined && next !== null && typeof next !== 'string') {
      throw thirdPartyGeneric('Graph answered with a non-string @odata.nextLink.', { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(body) });
    }
    return { rows, ...(typeof next === 'string' && next ? { nextLink: next } : {}) };
  }
  throw graphError(statusCode, headers, body, isContinuation);
}

/** Maps one getDetailsByRecipient response (B.6) to its detail events and nextLink, or to a typed error (the same classification as a page). */
export function parseGraphDetailResponse(
  statusCode: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  isContinuation: boolean,
): Omit<DetailResult, 'bytes'> {
  if (statusCode !== 200) throw graphError(statusCode, headers, body, isContinuation);
  const parsed = parseJsonBody(body, statusCode, 'Graph');
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray((parsed as { value?: unknown }).value)) {
    throw thirdPartyGeneric('Graph answered getDetailsByRecipient with JSON that has no `value` array.', { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(body) });
  }
  const obj = parsed as { value: unknown[]; '@odata.nextLink'?: unknown };
  const details: MessageTraceDetail[] = [];
  for (const [i, item] of obj.value.entries()) {
    const d = item as MessageTraceDetail | null;
    if (!d || typeof d !== 'object' || Array.isArray(d) || typeof d.event !== 'string' || typeof d.dateTime !== 'string') {
      throw thirdPartyGeneric(`Graph detail event ${i} lacks a string event or dateTime.`, { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(JSON.stringify(item)) });
    }
    details.push(d);
  }
  const next = obj['@odata.nextLink'];
  if (next !== undefined && next !== null && typeof next !== 'string') {
    throw thirdPartyGeneric('Graph answered getDetailsByRecipient with a non-string @odata.nextLink.', { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(body) });
  }
  return { details, ...(typeof next === 'string' && next ? { nextLink: next } : {}) };
}

/** The typed error of a Graph answer that is not 200 (list and detail calls alike). */
function graphError(statusCode: number, headers: Record<string, string | string[] | undefined>, body: string, isContinuation: boolean): CollectorError {
  const err = graphErrorOf(body);
  const retryAfterSec = retryAfterSeconds(headers);
  const excerpt = excerptOf(err.message ?? body);
  if (statusCode === 401) {
    if (/service principal/i.test(err.message ?? '') || /Service principal-less/i.test(body)) {
      return thirdPartyConfig(
        `Graph refused the call: the tenant has no service principal for Microsoft's message trace app ${MESSAGE_TRACE_APP_ID}.`,
        {
          code: 'MissingServicePrincipal', statusCode, excerpt,
          fix: `Create it once per tenant as an administrator: \`az ad sp create --id ${MESSAGE_TRACE_APP_ID}\` (or PowerShell \`New-MgServicePrincipal -AppId ${MESSAGE_TRACE_APP_ID}\`). Provisioning takes several hours; collection resumes by itself when the preflight re-check passes (every 30 minutes), or at once after POST /api/sources/<source>/replay.`,
        },
      );
    }
    return thirdPartyGeneric('Graph rejected the access token (401).', { code: err.code ?? 'InvalidAuthenticationToken', statusCode, excerpt });
  }
  if (statusCode === 403) {
    return thirdPartyConfig(`Graph denied access to message trace (403): the app lacks the ${GRAPH_PERMISSION} application permission or its admin consent.`, {
      code: err.code ?? 'Forbidden', statusCode, excerpt,
      fix: `In Entra ID, add the Microsoft Graph application permission ${GRAPH_PERMISSION} to the app registration and grant admin consent for the tenant.`,
    });
  }
  if (statusCode === 429) {
    return thirdPartyGeneric('Graph throttled the tenant (429).', { code: 'Throttled', statusCode, excerpt, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) });
  }
  if (statusCode === 400) {
    if (isContinuation) {
      return thirdPartyGeneric('Graph rejected a nextLink (400); the continuation may be corrupt.', { code: 'CorruptNextLink', statusCode, excerpt });
    }
    return thirdPartyGeneric('Graph rejected the query (400).', { code: err.code ?? 'BadRequest', statusCode, excerpt, retryable: false });
  }
  if (statusCode >= 500 || statusCode === 408) {
    return thirdPartyGeneric(`Graph failed with ${statusCode}.`, { code: `Http${statusCode}`, statusCode, excerpt, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) });
  }
  return thirdPartyGeneric(`Graph answered with unexpected status ${statusCode}.`, { code: `Http${statusCode}`, statusCode, excerpt, retryable: false });
}

/**
 * Removes credential form fields (client_secret, client_assertion, refresh_token, code, password)
 * from text a token endpoint answered: a proxy or a misconfigured authority may echo the request.
 */
export function redactCredentialFields(text: string): string {
  return text.replace(/(^|[^\w])(client_secret|client_assertion|refresh_token|code|password)=[^&\s"']*/gi, '$1$2=***');
}

/** Token endpoint failures: AADSTS codes that mean the setup is wrong are ThirdPartyConfig. */
export function classifyTokenError(err: unknown): CollectorError {
  const text = err instanceof Error ? err.message : String(err);
  const aadsts = /AADSTS(\d+)/.exec(text)?.[1];
  const configCodes: Record<string, string> = {
    '7000215': 'The client secret is wrong (AADSTS7000215). Update the secret the source\'s clientSecretRef points to with the secret VALUE (not its id).',
    '7000222': 'The client secret has expired (AADSTS7000222). Create a new secret for the app registration and update the secret the source\'s clientSecretRef points to.',
    '700016': 'The client id is not registered in this tenant (AADSTS700016). Check the source\'s auth.clientId and tenantId, or consent the multi-tenant app in this tenant.',
    '90002': 'The tenant was not found (AADSTS90002). Check the source\'s tenantId.',
    '900023': 'The tenant id is not valid (AADSTS900023). Check the source\'s tenantId.',
    '70011': 'The requested scope is not valid (AADSTS70011). Check endpoints.graphScope.',
    '1002012': 'The requested scope is not valid (AADSTS1002012). Check endpoints.graphScope.',
    '700027': 'The client assertion was rejected (AADSTS700027). Check the certificate configured for the app.',
  };
  if (aadsts && configCodes[aadsts]) {
    return thirdPartyConfig(`Entra ID refused to issue a token: ${configCodes[aadsts]!.split('. ')[0]}.`, { code: `AADSTS${aadsts}`, fix: configCodes[aadsts], cause: undefined });
  }
  return thirdPartyGeneric(`Getting a token from Entra ID failed${aadsts ? ` (AADSTS${aadsts})` : ''}.`, { code: aadsts ? `AADSTS${aadsts}` : 'TokenRequestFailed', excerpt: excerptOf(redactCredentialFields(text), 160) });
}
