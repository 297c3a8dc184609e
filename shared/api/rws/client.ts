/**
 * The legacy Office 365 Reporting Web Service `MessageTrace` report (reference section A) as a
 * MessageTraceClient: the page worker, planner, ledger, budget and retry machinery are the same as
 * for Graph; only this class differs.
 *
 * - Window: `$filter=StartDate eq datetime'…' and EndDate eq datetime'…'` (A.3), `$top` capped at
 *   `rws.maxPageSize` (2000 by default, the documented maximum).
 * - Both JSON shapes (A.3, A.4): JSON light (`value`, `odata.nextLink`, ISO dates with up to 7
 *   fractional digits and sometimes no `Z`) and verbose (`d.results`, `d.__next`, `/Date(ms)/`).
 *   `rws.format` chooses which one is asked for; either is parsed.
 * - Paging (A.3, A.4): a next link (absolute or relative, resolved against the request URL) is
 *   followed. End of data is an empty page, or a page shorter than `$top` with no next link. A full
 *   page without a next link asks for the next one with `$skiptoken=<offset>` (or `$skip`).
 * - Rows are normalised to the Graph row shape; the legacy record goes to `raws` (the envelope's `raw`).
 */
import type { TokenCredential } from '@azure/core-auth';
import { excerptOf, thirdPartyConfig, thirdPartyGeneric } from '../../errors';
import type { MessageTraceRow } from '../../model/row';
import { apiGet, bearerToken, checkApiUrl, pageGetOptions, parseJsonBody } from '../http';
import { retryAfterSeconds } from '../../outbound-http';
import { classifyTokenError } from '../graph/client';
import type { MessageTraceClient, PageRequest, PageResult } from '../client';

export const RWS_PERMISSION = 'ReportingWebService.Read.All';
export const RWS_DELEGATED_PERMISSION = 'ReportingWebService.Read';

export interface RwsClientOptions {
  /** …/ecp/reportingwebservice/reporting.svc/MessageTrace */
  reportUrl: string;
  scope: string;
  credential: TokenCredential;
  format: 'light' | 'verbose';
  paging: 'skiptoken' | 'skip';
  maxPageSize: number;
  timeoutMs?: number;
  onRequest?: (info: { statusCode: number | undefined; durationMs: number }) => void;
}

/** A legacy record as the report returns it (field names kept). */
export type RwsRecord = Record<string, unknown>;

const STATUS_MAP: Record<string, string> = {
  delivered: 'delivered',
  failed: 'failed',
  pending: 'pending',
  expanded: 'expanded',
  quarantined: 'quarantined',
  filteredasspam: 'filteredAsSpam',
  gettingstatus: 'gettingStatus',
  // The legacy None has no Graph equivalent (reference B.5); Graph's evolvable-enum sentinel stands in.
  none: 'unknownFutureValue',
};

/**
 * Parses an RWS date: `/Date(ms)/` or `\/Date(ms)\/` (verbose; an optional +hhmm offset does not
 * move the instant), or ISO 8601 with up to 7 fractional digits, with or without `Z` (no offset =
 * UTC). Returns epoch ms, or NaN.
 */
export function parseRwsDate(value: unknown): number {
  if (typeof value !== 'string') return Number.NaN;
  const wcf = /^\\?\/Date\((-?\d+)([+-]\d{4})?\)\\?\/$/.exec(value.trim());
  if (wcf) return Number(wcf[1]);
  const iso = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(value.trim());
  if (!iso) return Number.NaN;
  const [, y, mo, d, h, mi, s = '0', frac = '', zone] = iso;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(frac.padEnd(3, '0').slice(0, 3)));
  if (zone && zone.toUpperCase() !== 'Z') {
    const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    ms -= (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
  }
  return ms;
}

/** The ISO form of an RWS date for the Graph-shaped row: 7 fractional digits kept when present, always `Z`. */
export function rwsDateToIso(value: unknown): string | undefined {
  const ms = parseRwsDate(value);
  if (Number.isNaN(ms)) return undefined;
  const base = new Date(ms).toISOString(); // …ss.mmmZ
  const frac = typeof value === 'string' ? /T\d{2}:\d{2}:\d{2}\.(\d{4,7})(?:Z|[+-]|$)/i.exec(value.trim())?.[1] : undefined;
  return frac ? `${base.slice(0, 19)}.${frac}Z` : base;
}

/** One legacy record in the Graph row shape (reference A.5 → B.5). Returns undefined when a key field is missing. */
export function normaliseRwsRecord(r: RwsRecord): MessageTraceRow | undefined {
  const id = r.MessageTraceId;
  const recipient = r.RecipientAddress;
  const received = rwsDateToIso(r.Received);
  if (typeof id !== 'string' || !id || typeof recipient !== 'string' || !recipient || !received) return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const status = typeof r.Status === 'string' ? STATUS_MAP[r.Status.toLowerCase()] ?? r.Status : '';
  return {
    id: id.toLowerCase(),
    senderAddress: str(r.SenderAddress),
    recipientAddress: recipient,
    messageId: str(r.MessageId),
    receivedDateTime: received,
    subject: str(r.Subject),
    size: typeof r.Size === 'number' ? r.Size : Number(r.Size ?? 0) || 0,
    fromIP: str(r.FromIP),
    // Graph uses "" where the legacy report has null (B.5).
    toIP: str(r.ToIP),
    status,
  } as MessageTraceRow;
}

/** An OData datetime literal: seconds precision when whole seconds, else milliseconds. */
function datetimeLiteral(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `datetime'${ms % 1000 === 0 ? iso.replace(/\.\d{3}Z$/, 'Z') : iso}'`;
}

export class RwsMessageTraceClient implements MessageTraceClient {
  readonly api = 'rws';
  private readonly origin: string;
  constructor(private readonly options: RwsClientOptions) {
    this.origin = new URL(options.reportUrl).origin;
  }

  /** The first-page URL for `[startMs, endMs]`. */
  windowUrl(startMs: number, endMs: number, top: number): string {
    const filter = `StartDate eq ${datetimeLiteral(startMs)} and EndDate eq ${datetimeLiteral(endMs)}`;
    const params = [`$filter=${encodeURIComponent(filter)}`, `$top=${this.topOf(top)}`];
    if (this.options.format === 'verbose') params.push('$format=json');
    return `${this.options.reportUrl}?${params.join('&')}`;
  }

  private topOf(top: number): number {
    return Math.max(1, Math.min(top, this.options.maxPageSize));
  }

  async fetchPage(request: PageRequest, opts: { signal?: AbortSignal; clientRequestId?: string } = {}): Promise<PageResult> {
    const url = request.kind === 'window' ? this.windowUrl(request.startMs, request.endMs, request.top) : request.url;
    this.checkUrl(url, request.kind === 'continuation');
    const token = await this.getToken();
    const response = await apiGet(url, pageGetOptions('RWS', token, this.options, opts));
    const page = parseRwsResponse(response.statusCode, response.headers, response.body, url, this.options.paging);
    return { ...page, bytes: Buffer.byteLength(response.body) };
  }

  private getToken(): Promise<string> {
    return bearerToken(this.options.credential, this.options.scope, classifyTokenError);
  }

  private checkUrl(url: string, isContinuation: boolean): void {
    checkApiUrl(url, this.origin, { apiName: 'RWS', link: 'next link', endpoint: 'report host' }, isContinuation);
  }
}


/** The error text of an RWS error body (`odata.error`, verbose `error`, or the 403 `Message` form). */
function rwsErrorText(body: string): string | undefined {
  try {
    const p = JSON.parse(body) as Record<string, unknown>;
    const e = (p['odata.error'] ?? p.error) as { message?: { value?: unknown } | string } | undefined;
    if (e && typeof e === 'object') {
      const m = e.message;
      if (typeof m === 'string') return m;
      if (m && typeof m.value === 'string') return m.value;
    }
    if (typeof p.Message === 'string') return p.Message;
  } catch {
    // not JSON
  }
  return undefined;
}

/** The `$top` and offset of a request URL (offset = `$skiptoken` + `$skip`). */
function pagingOf(url: URL): { top?: number; offset: number; params: URLSearchParams } {
  const params = url.searchParams;
  const num = (k: string) => {
    const v = params.get(k);
    return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  return { top: num('$top'), offset: (num('$skiptoken') ?? 0) + (num('$skip') ?? 0), params };
}

/** Maps one RWS response to Graph-shaped rows, the legacy records and a next link, or to a typed error. Exported for unit tests. */
export function parseRwsResponse(
  statusCode: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  requestUrl: string,
  paging: 'skiptoken' | 'skip' = 'skiptoken',
): PageResult {
  const excerpt = excerptOf(rwsErrorText(body) ?? body);
  if (statusCode === 200) {
    const parsed = parseJsonBody(body, statusCode, 'RWS', '; often "Sign in to Outlook", which passes');
    let records: unknown;
    let next: unknown;
    const obj = parsed as Record<string, unknown> | null;
    if (obj && typeof obj === 'object' && Array.isArray(obj.value)) {
      records = obj.value;
      next = obj['odata.nextLink'] ?? obj['@odata.nextLink'];
    } else if (obj && typeof obj === 'object' && obj.d && typeof obj.d === 'object') {
      const d = obj.d as Record<string, unknown>;
      records = Array.isArray(d.results) ? d.results : Array.isArray(obj.d) ? obj.d : undefined;
      next = d.__next ?? d['odata.nextLink'] ?? d['@odata.nextLink'];
    }
    if (!Array.isArray(records)) {
      throw thirdPartyGeneric('RWS answered with JSON that has neither a `value` array nor `d.results`.', { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(body) });
    }
    if (next !== undefined && next !== null && typeof next !== 'string') {
      throw thirdPartyGeneric('RWS answered with a next link that is not a string.', { code: 'UnexpectedShape', statusCode, excerpt: excerptOf(body) });
    }
    const rows: MessageTraceRow[] = [];
    const raws: unknown[] = [];
    for (const [i, rec] of records.entries()) {
      const row = rec && typeof rec === 'object' ? normaliseRwsRecord(rec as RwsRecord) : undefined;
      if (!row) {
        throw thirdPartyGeneric(`RWS record ${i} lacks a MessageTraceId, RecipientAddress or a readable Received date.`, {
          code: 'UnexpectedShape', statusCode, excerpt: excerptOf(JSON.stringify(rec)),
        });
      }
      const raw = { ...(rec as RwsRecord) };
      delete raw.__metadata;
      rows.push(row);
      raws.push(raw);
    }
    const request = new URL(requestUrl);
    let nextLink: string | undefined;
    if (rows.length > 0) {
      if (typeof next === 'string' && next) {
        // Relative links (`../../ReportingWebService/…`) resolve against the request URL (RFC 3986).
        nextLink = new URL(next, request).toString();
      } else {
        const { top, offset, params } = pagingOf(request);
        // End of data: a short page without a next link. A full one may have more behind it.
        if (top !== undefined && rows.length >= top) {
          const u = new URL(request);
          const kept = [...params].filter(([k]) => !/^\$(skiptoken|skip)$/i.test(k));
          u.search = '';
          const qs = kept.map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
          qs.push(`${paging === 'skip' ? '$skip' : '$skiptoken'}=${offset + rows.length}`);
          nextLink = `${u.toString()}?${qs.join('&')}`;
        }
      }
    }
    return { rows, raws, ...(nextLink ? { nextLink } : {}) };
  }

  const retryAfterSec = retryAfterSeconds(headers);
  if (statusCode === 401) {
    throw thirdPartyGeneric('RWS rejected the access token (401).', { code: 'InvalidAuthenticationToken', statusCode, excerpt });
  }
  if (statusCode === 403) {
    throw thirdPartyConfig(`RWS denied access to the MessageTrace report (403): the app lacks the ${RWS_PERMISSION} permission or a directory role (Global Reader or Security Reader).`, {
      code: 'RwsForbidden', statusCode, excerpt,
      fix: `Add the Office 365 Exchange Online application permission ${RWS_PERMISSION} with admin consent, and assign the app's service principal the Global Reader (or Security Reader) directory role. \`npm run diagnose -- <source>\` tells which one is missing.`,
    });
  }
  if (statusCode === 404) {
    throw thirdPartyConfig('RWS has no such report (404).', { code: 'RwsNotFound', statusCode, excerpt, fix: 'Check rws.reportUrl: it ends with /ecp/reportingwebservice/reporting.svc/MessageTrace.' });
  }
  if (statusCode === 429) {
    throw thirdPartyGeneric('RWS throttled the tenant (429).', { code: 'Throttled', statusCode, excerpt, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) });
  }
  if (statusCode === 400) {
    const continuation = /\$skip(token)?=/i.test(requestUrl);
    throw thirdPartyGeneric(`RWS rejected the query (400)${continuation ? ' on a continuation' : ''}.`, {
      code: continuation ? 'CorruptNextLink' : 'BadRequest', statusCode, excerpt, retryable: continuation,
    });
  }
  if (statusCode >= 500 || statusCode === 408) {
    throw thirdPartyGeneric(`RWS failed with ${statusCode}.`, { code: `Http${statusCode}`, statusCode, excerpt, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) });
  }
  throw thirdPartyGeneric(`RWS answered with unexpected status ${statusCode}.`, { code: `Http${statusCode}`, statusCode, excerpt, retryable: false });
}
