/**
 * OCSF Email Activity (class 4009, category 4 Network Activity), schema 1.5.0, activity 4 "Trace".
 * The mapping table is in docs/destinations.md ("Formats"); the golden file is
 * test/destinations/testdata/expected_ocsf.json. Values OCSF has no attribute for go to `unmapped`.
 */
import { receivedMs, type TraceEvent } from '../model/row';
import { mailDirection, type MailDirection } from './direction';
import { canonicalStatus, compact, customFieldsOf, text } from './fields';

export const OCSF_VERSION = '1.5.0';

const DIRECTION_IDS: Record<MailDirection, [number, string]> = {
  unknown: [0, 'Unknown'],
  inbound: [1, 'Inbound'],
  outbound: [2, 'Outbound'],
  internal: [3, 'Internal'],
};

/** status_id: 1 Success, 2 Failure, 0 Unknown (still in flight or not a delivery result). */
function statusOf(status: string): [number, string] {
  if (status === 'delivered' || status === 'expanded') return [1, 'Success'];
  if (status === 'failed') return [2, 'Failure'];
  return [0, 'Unknown'];
}

/** action_id / disposition_id (security_control profile) for the statuses that are a control's decision. */
function controlOf(status: string): { action_id: number; action: string; disposition_id: number; disposition: string } | undefined {
  if (status === 'delivered') return { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' };
  if (status === 'quarantined') return { action_id: 2, action: 'Denied', disposition_id: 3, disposition: 'Quarantined' };
  return undefined;
}

export function toOcsf(event: TraceEvent, acceptedDomains: readonly string[]): Record<string, unknown> {
  const r = event.row;
  const sender = text(r.senderAddress);
  const recipient = text(r.recipientAddress);
  const status = canonicalStatus(r.status);
  const [directionId, direction] = DIRECTION_IDS[mailDirection(sender, recipient, acceptedDomains)];
  const [statusId, statusName] = statusOf(status);
  const ms = receivedMs(r.receivedDateTime);
  const fields = customFieldsOf(event);
  return compact({
    class_uid: 4009,
    class_name: 'Email Activity',
    category_uid: 4,
    category_name: 'Network Activity',
    activity_id: 4,
    activity_name: 'Trace',
    type_uid: 400904,
    type_name: 'Email Activity: Trace',
    time: Number.isNaN(ms) ? Date.parse(event.collectedAt) : ms,
    severity_id: 1,
    severity: 'Informational',
    status_id: statusId,
    status: statusName,
    status_code: text(r.status),
    direction_id: directionId,
    direction,
    message_trace_uid: text(r.id),
    ...controlOf(status),
    email: {
      uid: text(r.id),
      message_uid: text(r.messageId),
      from: sender,
      smtp_from: sender,
      to: recipient ? [recipient] : undefined,
      smtp_to: recipient ? [recipient] : undefined,
      subject: text(r.subject),
      size: typeof r.size === 'number' ? r.size : undefined,
    },
    src_endpoint: { ip: text(r.fromIP) },
    dst_endpoint: { ip: text(r.toIP) },
    metadata: {
      version: OCSF_VERSION,
      uid: event.eventId,
      tenant_uid: event.tenantId,
      logged_time: Date.parse(event.collectedAt),
      original_time: text(r.receivedDateTime),
      product: { name: 'message-trace-collector', vendor_name: 'message-trace-collector', feature: { name: event.api } },
    },
    unmapped: { source_id: event.sourceId, fields: Object.keys(fields).length ? fields : undefined },
  });
}
