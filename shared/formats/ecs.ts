/**
 * Elastic Common Schema (ECS 8.x) mapping of a trace event. The mapping table is in
 * docs/destinations.md ("Formats"); test/destinations/testdata/expected_ecs.json is the golden file.
 * Values outside ECS (size, tenant, source id, custom fields) go under `mtc.*`.
 */
import type { TraceEvent } from '../model/row';
import { domainOf, mailDirection } from './direction';
import { canonicalStatus, compact, customFieldsOf, receivedIso, text } from './fields';

export const ECS_VERSION = '8.17.0';

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
      dataset: 'microsoft_exchange_online.message_trace',
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
    },
    source: { ip: fromIp, user: { email: sender, domain: domainOf(sender) || undefined } },
    destination: { ip: toIp, user: { email: recipient, domain: domainOf(recipient) || undefined } },
    related: {
      ip: [...new Set([fromIp, toIp].filter((x): x is string => !!x))],
      user: [...new Set([sender, recipient].filter((x): x is string => !!x))],
    },
    organization: { id: event.tenantId },
    mtc: {
      source_id: event.sourceId,
      status: text(r.status),
      size: typeof r.size === 'number' ? r.size : undefined,
      fields: Object.keys(fields).length ? fields : undefined,
    },
  });
}
