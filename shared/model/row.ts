/**
 * A message trace row, its identity, and the event envelope forwarded to destinations.
 *
 * Identity of a row (ARCHITECTURE): (tenantId, id, recipientAddress). Graph's `id` is shared by all
 * recipients of one message, so it is never a key on its own. The eventId is a stable hash of that
 * key plus the fields that change over time (status, size, toIP), so a status change is a new,
 * distinguishable event and a repeat is not.
 */
import { createHash } from 'node:crypto';

/** One row of Graph `messageTraces` (v1.0 and beta), as the API returns it. */
export interface MessageTraceRow {
  id: string;
  senderAddress?: string;
  recipientAddress: string;
  messageId?: string;
  receivedDateTime: string;
  subject?: string;
  size?: number;
  fromIP?: string;
  toIP?: string;
  status?: string;
  [extra: string]: unknown;
}

/**
 * One event of Graph `getDetailsByRecipient` (reference B.6), as the API returns it: what happened
 * to the message for one recipient (Receive, Deliver, Fail, Spam, Transport rule, …), with the
 * XML `data` blob that names the rule, the filter verdict or the SMTP status.
 */
export interface MessageTraceDetail {
  id?: string;
  messageId?: string;
  dateTime: string;
  event: string;
  action?: string;
  description?: string;
  data?: string;
  [extra: string]: unknown;
}

/** The envelope every destination receives (documented in docs/api.md). */
export interface TraceEvent {
  eventId: string;
  tenantId: string;
  sourceId: string;
  collectedAt: string;
  /** The API the row came from, e.g. `graph/v1.0`. */
  api: string;
  /** The configured custom fields come next, at the top level. */
  [field: string]: unknown;
  /** The API row, unchanged (for legacy APIs: normalised to the Graph shape). */
  row: MessageTraceRow;
  /** For legacy APIs (RWS): the original record with its legacy field names. */
  raw?: unknown;
  /**
   * Detail events only (`collectedBy: "detail"`): one event of the row's getDetailsByRecipient
   * answer. `row` is then the trace row it explains (as collected), `traceEventId` the eventId of
   * that row's trace event (row key + status), `rowKey` the row key, and `detailIndex` /
   * `detailCount` its place among the row's detail events. Trace events have none of these.
   */
  detail?: MessageTraceDetail;
  traceEventId?: string;
  rowKey?: string;
  detailIndex?: number;
  detailCount?: number;
}

/** Whether an event is a detail event (one getDetailsByRecipient event of a row) rather than a trace row. */
export function isDetailEvent(event: TraceEvent): event is TraceEvent & { detail: MessageTraceDetail; traceEventId: string; rowKey: string; detailIndex: number; detailCount: number } {
  return event.detail !== undefined;
}

/** The row key (tenant, id, recipient), as a short stable string. Recipient addresses compare case-insensitively. */
export function rowKey(tenantId: string, row: Pick<MessageTraceRow, 'id' | 'recipientAddress'>): string {
  return createHash('sha256')
    .update(`${tenantId.toLowerCase()}\n${String(row.id).toLowerCase()}\n${String(row.recipientAddress).toLowerCase()}`)
    .digest('base64url')
    .slice(0, 22);
}

/** Deterministic event id: the row key plus its mutable fields. */
export function eventIdOf(tenantId: string, row: MessageTraceRow): string {
  const mutable = [String(row.status ?? '').toLowerCase(), String(row.size ?? ''), String(row.toIP ?? '')].join('\n');
  return createHash('sha256').update(`${rowKey(tenantId, row)}\n${mutable}`).digest('hex').slice(0, 32);
}

/**
 * Milliseconds since the epoch of a `receivedDateTime` (ISO 8601; fractional digits beyond
 * milliseconds are truncated, a missing zone means UTC). NaN when unparseable.
 */
export function receivedMs(value: unknown): number {
  if (typeof value !== 'string') return Number.NaN;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(value.trim());
  if (!m) return Number.NaN;
  const frac = (m[2] ?? '').slice(0, 3).padEnd(3, '0');
  const zone = m[3] ?? 'Z';
  return Date.parse(`${m[1]}.${frac}${zone.toUpperCase() === 'Z' ? 'Z' : zone}`);
}

/**
 * Deterministic id of a detail event: the row key, the status the details explain, and the
 * detail's place, event name and time (the same answer collected twice gives the same ids).
 */
export function detailEventIdOf(tenantId: string, row: MessageTraceRow, index: number, detail: Pick<MessageTraceDetail, 'event' | 'dateTime'>): string {
  const parts = [rowKey(tenantId, row), String(row.status ?? '').toLowerCase(), 'detail', String(index), String(detail.event ?? ''), String(detail.dateTime ?? '')];
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

/** The detail events of one row: one per getDetailsByRecipient event, in the API's order. */
export function makeDetailEvents(args: {
  tenantId: string;
  sourceId: string;
  api: string;
  collectedAt: string;
  fields: Record<string, string | number | boolean>;
  /** The trace row the details explain (with the status they were asked for). */
  row: MessageTraceRow;
  details: MessageTraceDetail[];
}): TraceEvent[] {
  const key = rowKey(args.tenantId, args.row);
  const traceEventId = eventIdOf(args.tenantId, args.row);
  return args.details.map((detail, i) => ({
    eventId: detailEventIdOf(args.tenantId, args.row, i, detail),
    tenantId: args.tenantId,
    sourceId: args.sourceId,
    collectedAt: args.collectedAt,
    api: args.api,
    collectedBy: 'detail',
    ...args.fields,
    traceEventId,
    rowKey: key,
    detailIndex: i,
    detailCount: args.details.length,
    row: args.row,
    detail,
  }));
}

export function makeEvent(args: {
  tenantId: string;
  sourceId: string;
  api: string;
  collectedAt: string;
  fields: Record<string, string | number | boolean>;
  row: MessageTraceRow;
  raw?: unknown;
  /** How the row was collected: live, backfill or rescan (a settle re-read). */
  collectedBy?: string;
  /** For a re-read that found the row changed: the values it had before. */
  previous?: { status: string; size: number | undefined; toIP: string };
}): TraceEvent {
  return {
    eventId: eventIdOf(args.tenantId, args.row),
    tenantId: args.tenantId,
    sourceId: args.sourceId,
    collectedAt: args.collectedAt,
    api: args.api,
    ...(args.collectedBy ? { collectedBy: args.collectedBy } : {}),
    ...(args.previous ? { update: true, previous: args.previous } : {}),
    ...args.fields,
    row: args.row,
    ...(args.raw !== undefined ? { raw: args.raw } : {}),
  };
}
