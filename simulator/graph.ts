/**
 * Microsoft Graph message trace: list `messageTraces` (reference B.3 to B.5) and
 * `getDetailsByRecipient` (B.6). Auth, throttling and faults are handled by the server before
 * these run; these turn a validated request into the service's answer.
 */
import { compareInstant, formatInstant, parseInstant, type Instant } from './instant';
import { addressMatches, FilterError, parseGraphFilter, subjectMatches, type GraphFilter } from './graph-filter';
import { detailEventsOf, type DetailEvent } from './detail';
import type { ResolvedGraphOptions } from './options';
import { graphError, jsonResponse, MESSAGES, type RequestIds, type SimResponse } from './response';
import { formatReceived, type TenantTraffic, type TraceRow, type TraceStatus } from './traffic';

const DAY_MS = 86_400_000;
const DEFAULT_WINDOW_MS = 48 * 3_600_000;

export interface GraphRequest {
  version: 'v1.0' | 'beta';
  url: URL;
  prefer: string | undefined;
  ids: RequestIds;
  traffic: TenantTraffic;
  now: number;
  baseUrl: string;
  options: ResolvedGraphOptions;
}

/** The decoded `$skiptoken` (B.4): the V2-cmdlet continuation state. */
export interface GraphSkipToken {
  StartDate: string;
  EndDate: string;
  StartingRecipientAddress: string;
  ResultSize: string;
  /**
   * Simulator extension: the trace id of the last row, so rows that share a timestamp AND a
   * recipient can never be lost between pages. Real tokens have only the four fields above;
   * clients treat the token as opaque.
   */
  StartingMessageTraceId?: string;
  /** Simulator extension (graph.skipTokenPadding): filler that makes the token as long as asked. */
  Padding?: string;
}

export function encodeSkipToken(t: GraphSkipToken): string {
  return Buffer.from(JSON.stringify(t), 'utf8').toString('base64');
}

export function decodeSkipToken(text: string): GraphSkipToken | undefined {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as unknown;
    if (!value || typeof value !== 'object') return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.StartDate !== 'string' || typeof v.EndDate !== 'string') return undefined;
    return {
      StartDate: v.StartDate,
      EndDate: v.EndDate,
      StartingRecipientAddress: typeof v.StartingRecipientAddress === 'string' ? v.StartingRecipientAddress : '',
      ResultSize: typeof v.ResultSize === 'string' || typeof v.ResultSize === 'number' ? String(v.ResultSize) : '',
      ...(typeof v.StartingMessageTraceId === 'string' ? { StartingMessageTraceId: v.StartingMessageTraceId } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Rewrites a nextLink's skiptoken the way the real service sometimes does (B.4, elastic/integrations#18134). */
export function poisonNextLink(nextLink: string): string {
  const url = new URL(nextLink);
  const raw = queryParam(url, '$skiptoken');
  const token = raw === undefined ? undefined : decodeSkipToken(raw);
  if (!raw || !token) return nextLink;
  const quote = (s: string) => `"${s}"`;
  const poisoned = encodeSkipToken({ ...token, StartDate: quote(token.StartDate), EndDate: quote(token.EndDate), StartingRecipientAddress: quote(token.StartingRecipientAddress) });
  return nextLink.replace(encodeURIComponent(raw), encodeURIComponent(poisoned));
}

/** A query option, matched case-insensitively ($skiptoken and $skipToken are both in use). */
export function queryParam(url: URL, name: string): string | undefined {
  const lower = name.toLowerCase();
  let found: string | undefined;
  for (const [k, v] of url.searchParams) if (k.toLowerCase() === lower) found = v;
  return found;
}

function badRequest(req: GraphRequest, message: string): SimResponse {
  return graphError(400, 'BadRequest', message, req.ids);
}

const PASCAL: Record<string, string> = { gettingStatus: 'GettingStatus', filteredAsSpam: 'FilteredAsSpam', unknownFutureValue: 'UnknownFutureValue' };

export function presentStatus(status: TraceStatus, version: 'v1.0' | 'beta', statusCase: 'auto' | 'camel' | 'pascal', prefer: string | undefined): string {
  let s: string = status;
  // B.5: recalled is an evolvable-enum member, returned only when the client opts in.
  if (s === 'recalled' && !/include-unknown-enum-members/i.test(prefer ?? '')) s = 'unknownFutureValue';
  const pascal = statusCase === 'pascal' || (statusCase === 'auto' && version === 'beta');
  return pascal ? (PASCAL[s] ?? s.charAt(0).toUpperCase() + s.slice(1)) : s;
}

function rowMatches(row: TraceRow, f: GraphFilter, now: number, traffic: TenantTraffic): boolean {
  const eq = f.eq;
  if (eq.id !== undefined && eq.id.toLowerCase() !== row.id) return false;
  if (eq.recipientAddress !== undefined && !addressMatches(eq.recipientAddress, row.recipientAddress)) return false;
  if (eq.senderAddress !== undefined && !addressMatches(eq.senderAddress, row.senderAddress)) return false;
  if (eq.messageId !== undefined && eq.messageId.toLowerCase() !== row.messageId.toLowerCase()) return false;
  if (eq.status !== undefined && eq.status.toLowerCase() !== traffic.statusOf(row, now).toLowerCase()) return false;
  if (eq.fromIP !== undefined && eq.fromIP.toLowerCase() !== row.fromIP.toLowerCase()) return false;
  if (eq.toIP !== undefined && eq.toIP.toLowerCase() !== row.toIP.toLowerCase()) return false;
  if (f.subject && !subjectMatches(f.subject, row.subject)) return false;
  return true;
}

function presentRow(row: TraceRow, req: GraphRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (req.version === 'beta') out['@odata.type'] = '#microsoft.graph.exchangeMessageTrace';
  Object.assign(out, {
    id: row.id,
    senderAddress: row.senderAddress,
    recipientAddress: row.recipientAddress,
    messageId: row.messageId,
    receivedDateTime: formatReceived(row.received, req.options.receivedPrecision),
    subject: row.subject,
    size: row.size,
    fromIP: row.fromIP,
    toIP: row.toIP,
    status: presentStatus(req.traffic.statusOf(row, req.now), req.version, req.options.statusCase, req.prefer),
  });
  return out;
}

/** GET /{version}/admin/exchange/tracing/messageTraces */
export function listMessageTraces(req: GraphRequest): SimResponse {
  const o = req.options;
  const topText = queryParam(req.url, '$top');
  let top: number | undefined;
  if (topText !== undefined) {
    top = /^\d+$/.test(topText) ? Number(topText) : NaN;
    if (!(top >= 1 && top <= o.maxTop)) return badRequest(req, `Invalid value '${topText}' for $top. Use an integer from 1 to ${o.maxTop}.`);
  }
  const filterText = queryParam(req.url, '$filter');
  let filter: GraphFilter = { eq: {} };
  if (filterText !== undefined && filterText.trim() !== '') {
    try {
      filter = parseGraphFilter(filterText);
    } catch (err) {
      if (err instanceof FilterError) return badRequest(req, err.message);
      throw err;
    }
  }

  let start: Instant;
  let end: Instant;
  let continuation: { recipient: string; id: string | undefined } | undefined;
  const skipText = queryParam(req.url, '$skiptoken');
  if (skipText !== undefined) {
    const token = decodeSkipToken(skipText);
    if (!token) return badRequest(req, 'The $skiptoken is not valid. Follow @odata.nextLink exactly as returned.');
    // B.4 (#18134): a token whose values carry extra quotes fails on every retry.
    if (token.StartDate.startsWith('"')) return badRequest(req, MESSAGES.corruptSkipToken);
    if (token.EndDate.startsWith('"')) return badRequest(req, MESSAGES.corruptSkipToken.replace('StartDate', 'EndDate'));
    if (token.StartingRecipientAddress.startsWith('"')) return badRequest(req, '|System.ArgumentException|Invalid starting recipient address');
    const s = parseInstant(token.StartDate);
    const e = parseInstant(token.EndDate);
    if (!s) return badRequest(req, MESSAGES.corruptSkipToken);
    if (!e) return badRequest(req, MESSAGES.corruptSkipToken.replace('StartDate', 'EndDate'));
    start = s;
    end = e;
    if (token.StartingRecipientAddress) continuation = { recipient: token.StartingRecipientAddress.toLowerCase(), id: token.StartingMessageTraceId?.toLowerCase() };
    if (top === undefined && /^\d+$/.test(token.ResultSize)) top = Math.min(o.maxTop, Math.max(1, Number(token.ResultSize)));
  } else if (filter.start || filter.end) {
    if (!filter.end) return badRequest(req, MESSAGES.endDateRequired);
    if (!filter.start) return badRequest(req, MESSAGES.startDateRequired);
    start = filter.start;
    end = filter.end;
  } else {
    // B.3: no time filter => the previous 48 hours.
    start = { ms: req.now - DEFAULT_WINDOW_MS, sub: 0 };
    end = { ms: req.now, sub: 0 };
  }
  top ??= o.defaultTop;

  if (compareInstant(start, end) > 0) return badRequest(req, MESSAGES.startAfterEnd);
  if (end.ms - start.ms > o.maxWindowDays * DAY_MS) return badRequest(req, MESSAGES.windowTooLong(o.maxWindowDays));
  if (start.ms < req.now - o.maxLookbackDays * DAY_MS) return badRequest(req, MESSAGES.startTooOld(o.maxLookbackDays));
  if (end.ms > req.now) return badRequest(req, MESSAGES.endInFuture);

  const page = collectPage(req, filter, start, end, top, continuation);
  const body: Record<string, unknown> = {};
  if (req.version === 'v1.0') body['@odata.context'] = `${req.baseUrl}/v1.0/$metadata#admin/exchange/tracing/messageTraces`;
  body.value = page.rows.map((r) => presentRow(r, req));
  req.traffic.noteServed(page.rows, page.hiddenCovered);
  if (page.more) {
    const last = page.rows[page.rows.length - 1]!;
    const token = encodeSkipToken({
      StartDate: formatInstant(start, 7),
      EndDate: formatInstant(last.received, 7),
      StartingRecipientAddress: last.recipientAddress,
      ResultSize: String(top),
      StartingMessageTraceId: last.id,
      ...(o.skipTokenPadding ? { Padding: 'x'.repeat(o.skipTokenPadding) } : {}),
    });
    const parts: string[] = [];
    if (filterText !== undefined) parts.push(`$filter=${encodeURIComponent(filterText)}`);
    parts.push(`$top=${top}`, `$skiptoken=${encodeURIComponent(token)}`);
    body['@odata.nextLink'] = `${req.baseUrl}/${req.version}/admin/exchange/tracing/messageTraces?${parts.join('&')}`;
  }
  return jsonResponse(200, body, { 'request-id': req.ids.requestId, 'client-request-id': req.ids.clientRequestId });
}

/**
 * One page, newest first. After a continuation the page starts again at the boundary timestamp
 * (EndDate is inclusive), so rows repeat per `boundaryRepeats`:
 * - sameTimestamp: every row at the boundary timestamp that sorts at or before the last row;
 * - lastRow: only the last row;
 * - none: no repeats.
 * Guard: when the repeats alone would fill the page (more rows share one timestamp than $top), the
 * page continues strictly after the last row instead (StartingRecipientAddress order), so paging
 * always makes progress and terminates. No row is ever skipped.
 */
function collectPage(
  req: GraphRequest,
  filter: GraphFilter,
  start: Instant,
  end: Instant,
  top: number,
  continuation: { recipient: string; id: string | undefined } | undefined,
): { rows: TraceRow[]; more: boolean; hiddenCovered: TraceRow[] } {
  const mode = req.options.boundaryRepeats;
  const repeats: TraceRow[] = [];
  const rows: TraceRow[] = [];
  const hidden: TraceRow[] = [];
  let inBoundary = continuation !== undefined;
  let more = false;
  for (const row of req.traffic.rowsBetween(start, end)) {
    if (!req.traffic.isVisible(row, req.now)) {
      if (row.afterRead === 'late') hidden.push(row);
      continue;
    }
    if (!rowMatches(row, filter, req.now, req.traffic)) continue;
    if (inBoundary && continuation) {
      const atBoundary = compareInstant(row.received, end) === 0;
      const atOrBefore = atBoundary && (row.recipientAddress < continuation.recipient
        || (row.recipientAddress === continuation.recipient && (continuation.id === undefined || row.id <= continuation.id)));
      if (atOrBefore) {
        const isLast = row.recipientAddress === continuation.recipient && (continuation.id === undefined || row.id === continuation.id);
        if (mode === 'sameTimestamp' || (mode === 'lastRow' && isLast)) repeats.push(row);
        continue;
      }
      inBoundary = false;
      if (repeats.length < top) rows.push(...repeats);
    }
    if (rows.length === top) {
      more = true;
      break;
    }
    rows.push(row);
  }
  if (inBoundary && repeats.length < top) rows.push(...repeats); // nothing after the boundary
  // Hidden rows inside the range this page covered (rereadChanges): down to its last row's instant.
  const last = rows[rows.length - 1];
  const hiddenCovered = more && last ? hidden.filter((r) => compareInstant(r.received, last.received) >= 0) : hidden;
  return { rows, more, hiddenCovered };
}

/** What getDetailsByRecipient knows about one (id, recipient) at `now`. */
export type DetailAnswer =
  | { kind: 'unknown' }
  | { kind: 'beyondRetention'; retentionDays: number }
  | { kind: 'events'; events: DetailEvent[] };

/**
 * The whole detail answer for (id, recipient) at `now`, before paging: the endpoint serves it and
 * the ground truth returns it, so both always agree. Unknown ids and recipients, and rows not
 * visible yet, are 'unknown' (B.6: {"value":[]}).
 */
export function detailAnswer(
  traffic: TenantTraffic,
  id: string,
  recipientAddress: string,
  now: number,
  options: ResolvedGraphOptions,
  version: 'v1.0' | 'beta',
): DetailAnswer {
  const message = traffic.rowsOfMessage(id.toLowerCase());
  const row = message.find((r) => r.recipientAddress === recipientAddress.toLowerCase() && traffic.isVisible(r, now));
  if (!row) return { kind: 'unknown' };
  if (row.received.ms < now - options.detailRetentionDays * DAY_MS) return { kind: 'beyondRetention', retentionDays: options.detailRetentionDays };
  const events = detailEventsOf(row, traffic.statusOf(row, now), now, {
    seed: traffic.seed,
    tenantIndex: traffic.tenantIndex,
    domain: traffic.options.acceptedDomains[0]!,
    recipients: message.length,
    precision: options.receivedPrecision,
    version,
    shape: { spamData: options.detailSpamData, quarantine: options.detailQuarantine, eventNames: options.detailEventNames },
  });
  return { kind: 'events', events };
}

/** The detail `$skiptoken` (simulator paging, graph.detailPageSize): base64 JSON of the next event's index. */
function encodeDetailToken(index: number): string {
  return Buffer.from(JSON.stringify({ DetailIndex: index }), 'utf8').toString('base64');
}

function decodeDetailToken(text: string): number | undefined {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as { DetailIndex?: unknown };
    return Number.isInteger(v.DetailIndex) && (v.DetailIndex as number) > 0 ? (v.DetailIndex as number) : undefined;
  } catch {
    return undefined;
  }
}

/** GET …/messageTraces/{id}/getDetailsByRecipient(recipientAddress='x') (B.6). */
export function getDetailsByRecipient(req: GraphRequest, id: string, recipientAddress: string): SimResponse {
  const headers = { 'request-id': req.ids.requestId, 'client-request-id': req.ids.clientRequestId };
  const o = req.options;
  let offset = 0;
  const skipText = queryParam(req.url, '$skiptoken');
  if (skipText !== undefined) {
    const index = decodeDetailToken(skipText);
    if (index === undefined) return badRequest(req, 'The $skiptoken is not valid. Follow @odata.nextLink exactly as returned.');
    offset = index;
  }
  const answer = detailAnswer(req.traffic, id, recipientAddress, req.now, o, req.version);
  if (answer.kind === 'unknown') return jsonResponse(200, { value: [] }, headers);
  if (answer.kind === 'beyondRetention') {
    if (o.detailBeyondRetention === 'badRequest') return badRequest(req, MESSAGES.startTooOld(answer.retentionDays));
    return jsonResponse(200, { value: [] }, headers);
  }
  const all = answer.events;
  const pageSize = o.detailPageSize > 0 ? o.detailPageSize : Math.max(1, all.length);
  const page = all.slice(offset, offset + pageSize);
  const body: Record<string, unknown> = {};
  // B.6: v1.0 carries @odata.context; the beta example has none and types each item instead.
  if (req.version === 'v1.0') body['@odata.context'] = `${req.baseUrl}/v1.0/$metadata#Collection(microsoft.graph.exchangeMessageTraceDetail)`;
  body.value = page;
  if (offset + pageSize < all.length) {
    const quoted = encodeURIComponent(recipientAddress.replace(/'/g, "''"));
    body['@odata.nextLink'] = `${req.baseUrl}/${req.version}/admin/exchange/tracing/messageTraces/${encodeURIComponent(id)}/getDetailsByRecipient(recipientAddress='${quoted}')?$skiptoken=${encodeURIComponent(encodeDetailToken(offset + pageSize))}`;
  }
  return jsonResponse(200, body, headers);
}
