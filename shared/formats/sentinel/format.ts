/**
 * Sentinel-friendly columns for Log Analytics custom tables (Logs Ingestion API). The column lists
 * are the single source for the DCR streams and tables in infra/modules/logs-ingestion.bicep (a test
 * checks that they agree). `TenantId` is reserved by Log Analytics, hence `M365TenantId`.
 *
 * Trace rows go to `MessageTrace_CL` (SENTINEL_COLUMNS), detail events to a second table,
 * `MessageTraceDetail_CL` (SENTINEL_DETAIL_COLUMNS), through their own stream: the two have different
 * shapes, every query of the trace table (the ASIM parsers, the hunting queries, customers' own)
 * keeps meaning one row per message and recipient, and the detail table can have its own retention
 * or plan (docs/siem/sentinel.md). `TraceEventId` of a detail row is the `EventId` of the trace row
 * it explains; `RowKey` is the same for every status of the row.
 */
import { isDetailEvent, type TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { detailFacts } from '../detail';
import { domainOf, mailDirection } from '../direction';
import { canonicalStatus, customFieldsOf, detailFieldsOf, detailIso, receivedIso, text } from '../fields';

export type SentinelColumnType = 'string' | 'datetime' | 'long' | 'dynamic';

export const SENTINEL_COLUMNS: readonly { name: string; type: SentinelColumnType }[] = [
  { name: 'TimeGenerated', type: 'datetime' },
  { name: 'EventId', type: 'string' },
  { name: 'M365TenantId', type: 'string' },
  { name: 'SourceId', type: 'string' },
  { name: 'Api', type: 'string' },
  { name: 'CollectedAt', type: 'datetime' },
  { name: 'ReceivedDateTime', type: 'datetime' },
  { name: 'MessageTraceId', type: 'string' },
  { name: 'MessageId', type: 'string' },
  { name: 'SenderAddress', type: 'string' },
  { name: 'SenderDomain', type: 'string' },
  { name: 'RecipientAddress', type: 'string' },
  { name: 'RecipientDomain', type: 'string' },
  { name: 'Subject', type: 'string' },
  { name: 'Status', type: 'string' },
  { name: 'Size', type: 'long' },
  { name: 'FromIP', type: 'string' },
  { name: 'ToIP', type: 'string' },
  { name: 'Direction', type: 'string' },
  { name: 'CustomFields', type: 'dynamic' },
];

/** Columns of the detail table (MessageTraceDetail_CL). */
export const SENTINEL_DETAIL_COLUMNS: readonly { name: string; type: SentinelColumnType }[] = [
  { name: 'TimeGenerated', type: 'datetime' },
  { name: 'EventId', type: 'string' },
  { name: 'TraceEventId', type: 'string' },
  { name: 'RowKey', type: 'string' },
  { name: 'DetailIndex', type: 'long' },
  { name: 'DetailCount', type: 'long' },
  { name: 'M365TenantId', type: 'string' },
  { name: 'SourceId', type: 'string' },
  { name: 'Api', type: 'string' },
  { name: 'CollectedAt', type: 'datetime' },
  { name: 'ReceivedDateTime', type: 'datetime' },
  { name: 'MessageTraceId', type: 'string' },
  { name: 'MessageId', type: 'string' },
  { name: 'SenderAddress', type: 'string' },
  { name: 'SenderDomain', type: 'string' },
  { name: 'RecipientAddress', type: 'string' },
  { name: 'RecipientDomain', type: 'string' },
  { name: 'Subject', type: 'string' },
  { name: 'TraceStatus', type: 'string' },
  { name: 'Direction', type: 'string' },
  { name: 'DetailEvent', type: 'string' },
  { name: 'DetailAction', type: 'string' },
  { name: 'Description', type: 'string' },
  { name: 'Data', type: 'string' },
  { name: 'SmtpStatusCode', type: 'string' },
  { name: 'SmtpEnhancedStatusCode', type: 'string' },
  { name: 'SmtpResponse', type: 'string' },
  { name: 'RemoteHost', type: 'string' },
  { name: 'RemoteIP', type: 'string' },
  { name: 'RuleName', type: 'string' },
  { name: 'RuleId', type: 'string' },
  { name: 'RulePolicyName', type: 'string' },
  { name: 'RuleAction', type: 'string' },
  { name: 'SpamConfidenceLevel', type: 'long' },
  { name: 'SpamFilterVerdict', type: 'string' },
  { name: 'SpamCategory', type: 'string' },
  { name: 'SpamFilterAction', type: 'string' },
  { name: 'DeliveryFolder', type: 'string' },
  { name: 'ServerHostname', type: 'string' },
  { name: 'MalwareName', type: 'string' },
  { name: 'CustomFields', type: 'dynamic' },
];

export function toSentinelDetail(event: TraceEvent, acceptedDomains: readonly string[]): Record<string, unknown> {
  const r = event.row;
  const d = event.detail!;
  const facts = detailFacts(d);
  const fields = detailFieldsOf(event);
  const out: Record<string, unknown> = {
    TimeGenerated: detailIso(event) ?? event.collectedAt,
    EventId: event.eventId,
    TraceEventId: event.traceEventId,
    RowKey: event.rowKey,
    DetailIndex: typeof event.detailIndex === 'number' ? event.detailIndex : undefined,
    DetailCount: typeof event.detailCount === 'number' ? event.detailCount : undefined,
    M365TenantId: event.tenantId,
    SourceId: event.sourceId,
    Api: event.api,
    CollectedAt: event.collectedAt,
    ReceivedDateTime: receivedIso(event),
    MessageTraceId: text(r.id),
    MessageId: text(d.messageId) ?? text(r.messageId),
    SenderAddress: text(r.senderAddress),
    SenderDomain: domainOf(r.senderAddress) || undefined,
    RecipientAddress: text(r.recipientAddress),
    RecipientDomain: domainOf(r.recipientAddress) || undefined,
    Subject: text(r.subject),
    TraceStatus: canonicalStatus(r.status) || undefined,
    Direction: mailDirection(r.senderAddress, r.recipientAddress, acceptedDomains),
    DetailEvent: text(d.event),
    DetailAction: text(d.action),
    Description: text(d.description),
    Data: text(d.data),
    SmtpStatusCode: facts.smtpCode,
    SmtpEnhancedStatusCode: facts.enhancedStatus,
    SmtpResponse: facts.smtpResponse,
    RemoteHost: facts.remoteHost,
    RemoteIP: facts.remoteIp,
    RuleName: facts.ruleName,
    RuleId: facts.ruleId,
    RulePolicyName: facts.rulePolicyName,
    RuleAction: facts.ruleAction,
    SpamConfidenceLevel: facts.scl,
    SpamFilterVerdict: facts.sfv,
    SpamCategory: facts.spamCategory,
    SpamFilterAction: facts.spamAction,
    DeliveryFolder: facts.folder,
    ServerHostname: facts.server,
    MalwareName: facts.malwareName,
    CustomFields: Object.keys(fields).length ? fields : undefined,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export function toSentinel(event: TraceEvent, acceptedDomains: readonly string[]): Record<string, unknown> {
  const r = event.row;
  const received = receivedIso(event);
  const fields = customFieldsOf(event);
  const out: Record<string, unknown> = {
    TimeGenerated: received ?? event.collectedAt,
    EventId: event.eventId,
    M365TenantId: event.tenantId,
    SourceId: event.sourceId,
    Api: event.api,
    CollectedAt: event.collectedAt,
    ReceivedDateTime: received,
    MessageTraceId: text(r.id),
    MessageId: text(r.messageId),
    SenderAddress: text(r.senderAddress),
    SenderDomain: domainOf(r.senderAddress) || undefined,
    RecipientAddress: text(r.recipientAddress),
    RecipientDomain: domainOf(r.recipientAddress) || undefined,
    Subject: text(r.subject),
    Status: canonicalStatus(r.status) || undefined,
    Size: typeof r.size === 'number' ? r.size : undefined,
    FromIP: text(r.fromIP),
    ToIP: text(r.toIP),
    Direction: mailDirection(r.senderAddress, r.recipientAddress, acceptedDomains),
    CustomFields: Object.keys(fields).length ? fields : undefined,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export const sentinelFormat = { name: 'sentinel', map: (event, domains) => (isDetailEvent(event) ? toSentinelDetail(event, domains) : toSentinel(event, domains)) } as const satisfies FormatSpec;
