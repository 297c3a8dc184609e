/**
 * The Office 365 Reporting web service `MessageTrace` record (`o365-messagetrace`): the row under the
 * legacy report's PascalCase names (MessageTraceId, Received, SenderAddress, RecipientAddress, Subject,
 * Status, ToIP, FromIP, Size, MessageId). This is the document the vendors' own message trace content
 * reads: Elastic's `microsoft_exchange_online_message_trace` ingest pipeline (from `message`), the
 * Splunk Add-on for Microsoft Office 365 (`ms:o365:reporting:messagetrace`) and Google SecOps'
 * `OFFICE_365_MESSAGETRACE` parser. See docs/siem/.
 *
 * Rows from Graph get the legacy names; Graph's camelCase statuses become the report's PascalCase
 * ("delivered" -> "Delivered", "filteredAsSpam" -> "FilteredAsSpam"). Rows from the legacy report keep
 * the report-only fields of the original record (Organization, StartDate, EndDate, Index).
 * Fields the report does not have (tenant, event id, source, custom fields) are not added: the vendors'
 * parsers map every field they find, and an unknown one would land in their unparsed leftovers.
 *
 * A detail event (one getDetailsByRecipient event) becomes the legacy report's `MessageTraceDetail`
 * record, the record of Get-MessageTraceDetail: MessageTraceId, MessageId, Date, Event, Action,
 * Detail (the description), Data (the XML blob, unchanged), SenderAddress, RecipientAddress. With the
 * trace record it shares MessageTraceId and RecipientAddress, the row key, so a search joins the two
 * on them.
 */
import { isDetailEvent, receivedMs, type TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { text } from '../fields';

/** The report's field names, in the report's order. */
export const MESSAGETRACE_FIELDS = ['MessageTraceId', 'Organization', 'MessageId', 'Received', 'SenderAddress', 'RecipientAddress', 'Subject', 'Status', 'ToIP', 'FromIP', 'Size', 'StartDate', 'EndDate', 'Index'] as const;

/** The detail report's field names (Get-MessageTraceDetail, the Reporting web service's MessageTraceDetail), in its order. */
export const MESSAGETRACEDETAIL_FIELDS = ['MessageTraceId', 'MessageId', 'Date', 'Event', 'Action', 'Detail', 'Data', 'SenderAddress', 'RecipientAddress'] as const;

/** Graph status -> the report's status text (first letter upper case). */
export function reportStatus(status: unknown): string | undefined {
  const s = text(status);
  return s ? s[0]!.toUpperCase() + s.slice(1) : undefined;
}

/** A legacy date as ISO 8601 (the verbose JSON form `/Date(ms)/` becomes ISO; ISO text stays as sent). */
function reportDate(v: unknown): string | undefined {
  if (typeof v !== 'string' || !v) return undefined;
  const m = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(v);
  if (m) return new Date(Number(m[1])).toISOString();
  return Number.isNaN(receivedMs(v)) ? undefined : v;
}

export function toMessageTrace(event: TraceEvent): Record<string, unknown> {
  const r = event.row;
  const raw = event.raw && typeof event.raw === 'object' ? (event.raw as Record<string, unknown>) : undefined;
  const out: Record<string, unknown> = {
    MessageTraceId: text(raw?.MessageTraceId) ?? text(r.id),
    Organization: text(raw?.Organization),
    MessageId: text(r.messageId),
    Received: text(r.receivedDateTime),
    SenderAddress: text(r.senderAddress),
    RecipientAddress: text(r.recipientAddress),
    Subject: text(r.subject),
    Status: text(raw?.Status) ?? reportStatus(r.status),
    ToIP: text(r.toIP),
    FromIP: text(r.fromIP),
    Size: typeof r.size === 'number' ? r.size : undefined,
    StartDate: reportDate(raw?.StartDate),
    EndDate: reportDate(raw?.EndDate),
    Index: typeof raw?.Index === 'number' ? raw.Index : undefined,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** The legacy `MessageTraceDetail` record of a detail event (`Data` is the XML blob as the API sent it). */
export function toMessageTraceDetail(event: TraceEvent): Record<string, unknown> {
  const r = event.row;
  const d = event.detail ?? { dateTime: '', event: '' };
  const out: Record<string, unknown> = {
    MessageTraceId: text(r.id) ?? text(d.id),
    MessageId: text(d.messageId) ?? text(r.messageId),
    Date: text(d.dateTime),
    Event: text(d.event),
    Action: text(d.action),
    Detail: text(d.description),
    Data: text(d.data),
    SenderAddress: text(r.senderAddress),
    RecipientAddress: text(r.recipientAddress),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export const messageTraceFormat = {
  name: 'o365-messagetrace',
  map: (event: TraceEvent) => (isDetailEvent(event) ? toMessageTraceDetail(event) : toMessageTrace(event)),
} as const satisfies FormatSpec;
