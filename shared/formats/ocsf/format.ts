/**
 * OCSF Email Activity (class 4009, category 4 Network Activity), schema 1.8.0, activity 4 "Trace",
 * with the security_control profile for the statuses that are a filter's decision. The mapping table
 * is in docs/destinations.md ("Formats"); the golden file is ./testdata/expected_ocsf.json,
 * validated against the 1.8.0 definitions in ./testdata/ocsf-1.8.0/. Values OCSF has
 * no attribute for go to `unmapped`. Deprecated attributes (email.smtp_from, email.smtp_to) are not used.
 */
import { receivedMs, type TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { mailDirection, type MailDirection } from '../direction';
import { canonicalStatus, compact, customFieldsOf, text } from '../fields';
import { reportStatus } from '../o365-messagetrace/format';

export const OCSF_VERSION = '1.8.0';

const DIRECTION_IDS: Record<MailDirection, [number, string]> = {
  unknown: [0, 'Unknown'],
  inbound: [1, 'Inbound'],
  outbound: [2, 'Outbound'],
  internal: [3, 'Internal'],
};

/**
 * status_id from the delivery status: 1 Success (delivered, expanded), 2 Failure (failed), 99 Other
 * with the status text for a filter's verdict (quarantined, filteredAsSpam), 0 Unknown while in
 * flight (pending, gettingStatus) or when absent.
 */
function statusOf(status: string): [number, string] {
  if (status === 'delivered' || status === 'expanded') return [1, 'Success'];
  if (status === 'failed') return [2, 'Failure'];
  if (status === 'quarantined' || status === 'filteredAsSpam') return [99, reportStatus(status)!];
  return [0, 'Unknown'];
}

/** action_id / disposition_id (security_control profile) for the statuses that are a control's decision. */
function controlOf(status: string): { action_id: number; action: string; disposition_id: number; disposition: string } | undefined {
  if (status === 'delivered') return { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' };
  if (status === 'quarantined') return { action_id: 2, action: 'Denied', disposition_id: 3, disposition: 'Quarantined' };
  if (status === 'filteredAsSpam') return { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' };
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
  const control = controlOf(status);
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
    status_detail: reportStatus(r.status),
    timezone_offset: 0,
    direction_id: directionId,
    direction,
    message_trace_uid: text(r.id),
    ...control,
    from: sender,
    to: recipient ? [recipient] : undefined,
    email: {
      message_uid: text(r.messageId),
      from: sender,
      to: recipient ? [recipient] : undefined,
      subject: text(r.subject),
      size: typeof r.size === 'number' ? r.size : undefined,
    },
    src_endpoint: { ip: text(r.fromIP) },
    dst_endpoint: { ip: text(r.toIP) },
    metadata: {
      version: OCSF_VERSION,
      profiles: control ? ['security_control'] : undefined,
      uid: event.eventId,
      tenant_uid: event.tenantId,
      logged_time: Date.parse(event.collectedAt),
      original_time: text(r.receivedDateTime),
      product: { name: 'message-trace-collector', vendor_name: 'message-trace-collector', feature: { name: event.api } },
    },
    unmapped: { source_id: event.sourceId, fields: Object.keys(fields).length ? fields : undefined },
  });
}

export const ocsfFormat = { name: 'ocsf', map: toOcsf } as const satisfies FormatSpec;
