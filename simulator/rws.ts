/**
 * The legacy Reporting Web Service `MessageTrace` report (reference A): WCF Data Services OData
 * v2/v3 query syntax (A.3), JSON light / verbose / Atom shapes (A.3, A.4), integer skiptokens,
 * echoed StartDate/EndDate, Index, and the empty page at the end.
 */
import { compareInstant, formatInstant, parseInstant, type Instant } from './instant';
import { queryParam } from './graph';
import type { ResolvedSimulatorOptions } from './options';
import { jsonResponse, rwsError, type SimResponse } from './response';
import type { TenantTraffic, TraceRow, TraceStatus } from './traffic';

const DAY_MS = 86_400_000;
export const RWS_PATH = '/ecp/reportingwebservice/reporting.svc';
const RWS_CANONICAL = '/ecp/ReportingWebService/Reporting.svc';

export interface RwsRequest {
  url: URL;
  accept: string | undefined;
  traffic: TenantTraffic;
  now: number;
  baseUrl: string;
  options: ResolvedSimulatorOptions['rws'];
}

type RwsField = 'SenderAddress' | 'RecipientAddress' | 'Status' | 'MessageTraceId' | 'MessageId' | 'FromIP' | 'ToIP' | 'Subject' | 'Organization';
const FIELDS: readonly RwsField[] = ['SenderAddress', 'RecipientAddress', 'Status', 'MessageTraceId', 'MessageId', 'FromIP', 'ToIP', 'Subject', 'Organization'];

interface RwsFilter {
  start?: Instant;
  end?: Instant;
  eq: Partial<Record<RwsField, string>>;
}

class RwsFilterError extends Error {}

type Tok = { kind: 'word' | 'string' | 'typed' | '(' | ')'; text: string; type?: string };

function lex(input: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const readQuoted = (): string => {
    let s = '';
    i++; // opening quote
    for (;;) {
      if (i >= input.length) throw new RwsFilterError(`Syntax error: unterminated string literal at position ${i} in '${input}'.`);
      if (input[i] === "'") {
        if (input[i + 1] === "'") { s += "'"; i += 2; continue; }
        i++;
        return s;
      }
      s += input[i++];
    }
  };
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(' || c === ')') { out.push({ kind: c, text: c }); i++; continue; }
    if (c === "'") { out.push({ kind: 'string', text: readQuoted() }); continue; }
    let w = '';
    while (i < input.length && !/[\s()']/.test(input[i]!)) w += input[i++];
    if (input[i] === "'" && /^(datetime|datetimeoffset|guid)$/i.test(w)) {
      out.push({ kind: 'typed', type: w.toLowerCase(), text: readQuoted() });
      continue;
    }
    out.push({ kind: 'word', text: w });
  }
  return out;
}

function parseDateLiteral(text: string, field: string): Instant {
  // A '+' offset sent unencoded arrives as a space; put it back.
  const t = parseInstant(text.replace(/ (\d{2}:?\d{2})$/, '+$1'));
  if (!t) throw new RwsFilterError(`The value '${text}' of ${field} is not a valid Edm.DateTime literal. Use datetime'2026-01-31T00:00:00Z'.`);
  return t;
}

function parseRwsFilter(text: string): RwsFilter {
  const toks = lex(text);
  const f: RwsFilter = { eq: {} };
  let i = 0;
  const clause = () => {
    while (toks[i]?.kind === '(') i++;
    const name = toks[i++];
    const op = toks[i++];
    const value = toks[i++];
    if (!name || name.kind !== 'word' || !op || op.kind !== 'word' || !value || value.kind === '(' || value.kind === ')') {
      throw new RwsFilterError(`Syntax error in $filter '${text}': expected <Property> eq <value> clauses joined by 'and'.`);
    }
    if (op.text.toLowerCase() !== 'eq') throw new RwsFilterError(`Operator '${op.text}' is not supported on ${name.text} in this report. Use 'eq'.`);
    const prop = name.text.toLowerCase();
    if (prop === 'startdate') f.start = parseDateLiteral(value.text, 'StartDate');
    else if (prop === 'enddate') f.end = parseDateLiteral(value.text, 'EndDate');
    else {
      const field = FIELDS.find((x) => x.toLowerCase() === prop);
      if (!field) throw new RwsFilterError(`Type 'TenantReporting.MessageTrace' does not have a property named '${name.text}'.`);
      f.eq[field] = value.text;
    }
    while (toks[i]?.kind === ')') i++;
  };
  if (toks.length === 0) return f;
  clause();
  while (i < toks.length) {
    const conj = toks[i++]!;
    if (conj.kind !== 'word' || conj.text.toLowerCase() !== 'and') throw new RwsFilterError(`Syntax error in $filter near '${conj.text}': only 'and' can join clauses.`);
    clause();
  }
  return f;
}

const RWS_STATUS: Record<TraceStatus, string> = {
  delivered: 'Delivered',
  failed: 'Failed',
  quarantined: 'Quarantined',
  filteredAsSpam: 'FilteredAsSpam',
  expanded: 'Expanded',
  pending: 'Pending',
  gettingStatus: 'GettingStatus',
  // UNCONFIRMED: the legacy report has no "recalled"; None is the closest legacy value (A.6).
  recalled: 'None',
};

function matches(row: TraceRow, f: RwsFilter, now: number, organization: string, traffic: TenantTraffic): boolean {
  const e = f.eq;
  const ci = (a: string | undefined, b: string) => a === undefined || a.toLowerCase() === b.toLowerCase();
  return ci(e.SenderAddress, row.senderAddress) && ci(e.RecipientAddress, row.recipientAddress)
    && ci(e.Status, RWS_STATUS[traffic.statusOf(row, now)]) && ci(e.MessageTraceId, row.id) && ci(e.MessageId, row.messageId)
    && ci(e.FromIP, row.fromIP) && (e.ToIP === undefined || e.ToIP.toLowerCase() === row.toIP.toLowerCase())
    && ci(e.Subject, row.subject) && ci(e.Organization, organization);
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

type Shape = 'light' | 'verbose' | 'atom';

function chooseShape(req: RwsRequest): Shape {
  if (req.options.format !== 'auto') return req.options.format;
  const format = queryParam(req.url, '$format');
  if (format !== undefined) return /^json$/i.test(format) ? 'verbose' : 'atom';
  return /application\/json/i.test(req.accept ?? '') ? 'light' : 'atom';
}

/** GET {rws}/MessageTrace (path case-insensitive). */
export function messageTraceReport(req: RwsRequest): SimResponse {
  const o = req.options;
  const topText = queryParam(req.url, '$top');
  if (topText !== undefined && !/^\d+$/.test(topText)) return rwsError(400, `Incorrect format for $top argument '${topText}'.`);
  const skipTokenText = queryParam(req.url, '$skiptoken');
  if (skipTokenText !== undefined && !/^\d+$/.test(skipTokenText)) return rwsError(400, `Incorrect format for $skiptoken argument '${skipTokenText}'.`);
  const skipText = queryParam(req.url, '$skip');
  if (skipText !== undefined && !/^\d+$/.test(skipText)) return rwsError(400, `Incorrect format for $skip argument '${skipText}'.`);
  // UNCONFIRMED (A.3, G.3): a $top above the server's page size is capped, not rejected.
  const pageSize = Math.min(o.maxTop, topText === undefined ? o.maxTop : Number(topText));
  const offset = Number(skipTokenText ?? 0) + Number(skipText ?? 0);

  let filter: RwsFilter = { eq: {} };
  const filterText = queryParam(req.url, '$filter');
  if (filterText) {
    try {
      filter = parseRwsFilter(filterText);
    } catch (err) {
      if (err instanceof RwsFilterError) return rwsError(400, err.message);
      throw err;
    }
  }
  if (filter.end && !filter.start) return rwsError(400, 'StartDate is required when EndDate is specified.'); // text UNCONFIRMED (A.3: EndDate needs StartDate)
  const start = filter.start ?? { ms: req.now - 2 * DAY_MS, sub: 0 };
  // UNCONFIRMED: StartDate without EndDate runs to now.
  const end = filter.end ?? { ms: req.now, sub: 0 };
  // UNCONFIRMED text and limit (A.7, G.4); the wording is the Get-MessageTrace one.
  if (start.ms < req.now - o.maxLookbackDays * DAY_MS) return rwsError(400, `Invalid StartDate value. The StartDate can't be older than ${o.maxLookbackDays} days from today.`);
  if (compareInstant(start, end) > 0) return rwsError(400, 'Invalid StartDate value. The StartDate must be earlier than the EndDate.'); // UNCONFIRMED text

  const organization = req.traffic.organization;
  const rows: TraceRow[] = [];
  const hidden: TraceRow[] = [];
  let seen = 0;
  if (pageSize > 0) {
    for (const row of req.traffic.rowsBetween(start, end)) {
      if (!req.traffic.isVisible(row, req.now)) {
        if (row.afterRead === 'late') hidden.push(row);
        continue;
      }
      if (!matches(row, filter, req.now, organization, req.traffic)) continue;
      if (seen++ < offset) continue;
      rows.push(row);
      if (rows.length === pageSize) break;
    }
  }
  // Statuses are read before noteServed, so this page shows them as they were.
  const statusOf = new Map(rows.map((r) => [r, RWS_STATUS[req.traffic.statusOf(r, req.now)]]));
  req.traffic.noteServed(rows, hidden);
  // Every non-empty page carries a next link, so a client that follows links ends on an empty
  // page, the observed end of data (A.4: Elastic mock and test-log end with "value":[]); a client
  // that stops on a short page (Elastic's rule) stops one request earlier. UNCONFIRMED (G.5).
  let nextLink: string | undefined;
  if (rows.length > 0 && o.nextLink !== 'none') {
    const params: string[] = [];
    for (const [k, v] of req.url.searchParams) {
      if (/^\$(skiptoken|skip)$/i.test(k)) continue;
      params.push(`${k}=${encodeURIComponent(v)}`);
    }
    params.push(`$skiptoken=${offset + rows.length}`);
    const prefix = o.nextLink === 'absolute' ? `${req.baseUrl}${RWS_CANONICAL}/` : '../../ReportingWebService/Reporting.svc/';
    nextLink = `${prefix}MessageTrace?${params.join('&')}`;
  }
  const shape = chooseShape(req);
  const startIso = formatInstant(start, 7);
  const endIso = formatInstant(end, 7);
  const serviceRoot = `${req.baseUrl}${RWS_CANONICAL}`;
  const indexOf = (i: number) => (o.indexMode === 'global' ? offset + i : i);

  if (shape === 'light') {
    const value = rows.map((r, i) => ({
      Organization: organization,
      MessageId: r.messageId,
      Received: formatInstant(r.received, 7, !r.rwsNoZone),
      SenderAddress: r.senderAddress,
      RecipientAddress: r.recipientAddress,
      Subject: r.subject,
      Status: statusOf.get(r)!,
      ToIP: r.toIP === '' ? null : r.toIP,
      FromIP: r.fromIP,
      Size: r.size,
      MessageTraceId: r.id,
      StartDate: startIso,
      EndDate: endIso,
      Index: indexOf(i),
    }));
    const body: Record<string, unknown> = { 'odata.metadata': `${serviceRoot}/$metadata#MessageTrace`, value };
    if (nextLink) body['odata.nextLink'] = nextLink;
    return jsonResponse(200, body, { 'dataserviceversion': '3.0;' });
  }
  if (shape === 'verbose') {
    const date = (ms: number) => `/Date(${ms})/`;
    const results = rows.map((r, i) => ({
      __metadata: { id: `${serviceRoot}/MessageTrace(${indexOf(i)})`, uri: `${serviceRoot}/MessageTrace(${indexOf(i)})`, type: 'TenantReporting.MessageTrace' },
      Organization: organization,
      MessageId: r.messageId,
      Received: date(r.received.ms),
      SenderAddress: r.senderAddress,
      RecipientAddress: r.recipientAddress,
      Subject: r.subject,
      Status: statusOf.get(r)!,
      ToIP: r.toIP === '' ? null : r.toIP,
      FromIP: r.fromIP,
      Size: r.size,
      MessageTraceId: r.id,
      StartDate: date(start.ms),
      EndDate: date(end.ms),
      Index: indexOf(i),
    }));
    // UNCONFIRMED (A.4, G.5): the WCF verbose next link is d.__next.
    const d: Record<string, unknown> = { results };
    if (nextLink) d.__next = nextLink;
    // WCF writes "\/Date(…)\/" on the wire (A.4).
    const body = JSON.stringify({ d }).replace(/"\/Date\((-?\d+)\)\/"/g, '"\\/Date($1)\\/"');
    return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'dataserviceversion': '2.0;' }, body };
  }
  const prop = (name: string, value: string | number | null, type?: string) =>
    value === null ? `<d:${name} m:null="true" />` : `<d:${name}${type ? ` m:type="${type}"` : ''}>${xmlEscape(String(value))}</d:${name}>`;
  const entries = rows.map((r, i) => `<entry><id>${serviceRoot}/MessageTrace(${indexOf(i)})</id><category term="TenantReporting.MessageTrace" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme" /><title /><updated>${new Date(req.now).toISOString()}</updated><author><name /></author><content type="application/xml"><m:properties>`
    + prop('Organization', organization) + prop('MessageId', r.messageId) + prop('Received', formatInstant(r.received, 7, false), 'Edm.DateTime')
    + prop('SenderAddress', r.senderAddress) + prop('RecipientAddress', r.recipientAddress) + prop('Subject', r.subject)
    + prop('Status', statusOf.get(r)!) + prop('ToIP', r.toIP === '' ? null : r.toIP) + prop('FromIP', r.fromIP)
    + prop('Size', r.size, 'Edm.Int32') + prop('MessageTraceId', r.id, 'Edm.Guid') + prop('StartDate', formatInstant(start, 7, false), 'Edm.DateTime')
    + prop('EndDate', formatInstant(end, 7, false), 'Edm.DateTime') + prop('Index', indexOf(i), 'Edm.Int32')
    + '</m:properties></content></entry>').join('');
  const body = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
    + `<feed xml:base="${serviceRoot}/" xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">`
    + `<id>${serviceRoot}/MessageTrace</id><title type="text">MessageTrace</title><updated>${new Date(req.now).toISOString()}</updated><link rel="self" title="MessageTrace" href="MessageTrace" />`
    + entries + (nextLink ? `<link rel="next" href="${xmlEscape(nextLink)}" />` : '') + '</feed>';
  return { status: 200, headers: { 'content-type': 'application/atom+xml;type=feed;charset=utf-8', 'dataserviceversion': '2.0;' }, body };
}

/** GET {rws}/ : the service document (A.1). */
export function serviceDocument(baseUrl: string): SimResponse {
  return jsonResponse(200, { 'odata.metadata': `${baseUrl}${RWS_CANONICAL}/$metadata`, value: [{ name: 'MessageTrace', url: 'MessageTrace' }] });
}
