/**
 * Sentinel-friendly columns for a Log Analytics custom table (Logs Ingestion API). The column list is
 * the single source for the DCR stream and table in infra/modules/logs-ingestion.bicep (a test
 * checks that they agree). `TenantId` is reserved by Log Analytics, hence `M365TenantId`.
 */
import type { TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { domainOf, mailDirection } from '../direction';
import { canonicalStatus, customFieldsOf, receivedIso, text } from '../fields';

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

export const sentinelFormat = { name: 'sentinel', map: toSentinel } as const satisfies FormatSpec;
