/**
 * Elastic Common Schema (ECS 8.x) mapping of a trace event, in the field layout of Elastic's
 * `microsoft_exchange_online_message_trace` integration (dataset `microsoft_exchange_online_message_trace.log`):
 * the same ECS fields its ingest pipeline fills, and the report record under
 * `microsoft.online_message_trace.*` as that integration keeps it. Differences: `event.outcome` is an
 * ECS value (success, failure, unknown) where the integration copies the status text, and there is
 * no geo/AS enrichment (the integration's pipeline adds it when documents go through it; see
 * docs/siem/elastic.md). The mapping table is in docs/destinations.md ("Formats");
 * ./testdata/expected_ecs.json is the golden file. Values outside ECS and the
 * integration (tenant source id, custom fields) go under `mtc.*`.
 */
import type { TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { domainOf, mailDirection } from '../direction';
import { canonicalStatus, compact, customFieldsOf, receivedIso, text } from '../fields';
import { toMessageTrace } from '../o365-messagetrace/format';

export const ECS_VERSION = '8.17.0';
/** The dataset of Elastic's message trace integration, whose dashboards filter on it. */
export const ECS_DATASET = 'microsoft_exchange_online_message_trace.log';

const localPart = (address: string | undefined) => (address && address.includes('@') ? address.slice(0, address.lastIndexOf('@')) : undefined);

export function ecsOutcome(status: string): 'success' | 'failure' | 'unknown' {
  if (status === 'delivered' || status === 'expanded') return 'success';
  if (status === 'failed') return 'failure';
  return 'unknown';
}

export function toEcs(event: TraceEvent, acceptedDomains: readonly string[]): Record<string, unknown> {
  const r = event.row;
  const sender = text(r.senderAddress);
  const recipient = text(r.recipientAddress);
  const fromIp = text(r.fromIP);
  const toIp = text(r.toIP);
  const status = canonicalStatus(r.status);
  const direction = mailDirection(sender, recipient, acceptedDomains);
  const received = receivedIso(event);
  const fields = customFieldsOf(event);
  return compact({
    '@timestamp': received ?? event.collectedAt,
    ecs: { version: ECS_VERSION },
    event: {
      kind: 'event',
      category: ['email'],
      type: ['info'],
      action: status || undefined,
      outcome: ecsOutcome(status),
      id: event.eventId,
      created: event.collectedAt,
      dataset: ECS_DATASET,
      provider: event.api,
    },
    email: {
      local_id: text(r.id),
      message_id: text(r.messageId),
      subject: text(r.subject),
      from: { address: sender ? [sender] : undefined },
      sender: { address: sender },
      to: { address: recipient ? [recipient] : undefined },
      direction: direction === 'unknown' ? undefined : direction,
      delivery_timestamp: received,
      attachments: { file: { size: typeof r.size === 'number' ? r.size : undefined } },
    },
    source: { ip: fromIp, domain: domainOf(sender) || undefined, user: { email: sender, id: sender, name: localPart(sender), domain: domainOf(sender) || undefined } },
    destination: { ip: toIp, domain: domainOf(recipient) || undefined, user: { email: recipient, id: recipient, name: localPart(recipient), domain: domainOf(recipient) || undefined } },
    related: {
      ip: [...new Set([fromIp, toIp].filter((x): x is string => !!x))],
      user: [...new Set([recipient, sender, localPart(recipient), localPart(sender)].filter((x): x is string => !!x))],
    },
    organization: { id: event.tenantId },
    microsoft: { online_message_trace: toMessageTrace(event) },
    mtc: {
      source_id: event.sourceId,
      fields: Object.keys(fields).length ? fields : undefined,
    },
  });
}

export const ecsFormat = { name: 'ecs', map: toEcs } as const satisfies FormatSpec;
