/**
 * OCSF Email Activity (class 4009, category 4 Network Activity), schema 1.8.0, activity 4 "Trace",
 * with the security_control profile for the statuses that are a filter's decision. The mapping table
 * is in docs/destinations.md ("Formats"); the golden file is ./testdata/expected_ocsf.json,
 * validated against the 1.8.0 definitions in ./testdata/ocsf-1.8.0/. Values OCSF has
 * no attribute for go to `unmapped`. Deprecated attributes (email.smtp_from, email.smtp_to) are not used.
 * `metadata.log_name` tells the two kinds apart (`MessageTrace`, `MessageTraceDetail`) and
 * `metadata.correlation_uid` groups them: a trace row's own eventId, which is its detail events'
 * traceEventId.
 *
 * A detail event (one getDetailsByRecipient event) is an Email Activity of its own, dated by the
 * detail: activity 2 Receive (Receive), 1 Send (Send, Send external), 3 Scan (Spam, Malware, Transport
 * rule, DLP rule, Quarantine: a control looked at the message) and 4 Trace for the other steps of the
 * route (Submit, Deliver, Fail, Defer, Drop, Expand, …); `status_id` the step's outcome (Fail and Defer
 * Failure, a scan Success, its verdict in `disposition_id`); `status_code` / `status_detail` the
 * enhanced SMTP status code and response; `message` the description; the security_control profile
 * (`action_id`, `disposition_id`, `confidence_score` = SCL, `policy` = the transport rule or DLP
 * policy) for a control's step; `metadata.event_code` the event name, `metadata.sequence` its place
 * among the row's details; `raw_data` the detail as the API returned it (after the privacy rules);
 * the facts OCSF has no attribute for (SFV, spam category, rule action, …) in `unmapped.detail`.
 * The golden file is ./testdata/expected_ocsf_detail.json.
 */
import { isDetailEvent, receivedMs, type TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { controlVerdict, detailFacts, type ControlVerdict, type DetailFacts, type DetailKind } from '../detail';
import { mailDirection, type MailDirection } from '../direction';
import { canonicalStatus, compact, customFieldsOf, detailFieldsOf, text } from '../fields';
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
      correlation_uid: event.eventId,
      log_name: 'MessageTrace',
      tenant_uid: event.tenantId,
      logged_time: Date.parse(event.collectedAt),
      original_time: text(r.receivedDateTime),
      product: { name: 'message-trace-collector', vendor_name: 'message-trace-collector', feature: { name: event.api } },
    },
    unmapped: { source_id: event.sourceId, fields: Object.keys(fields).length ? fields : undefined },
  });
}

/** activity_id of a detail: what the step was. */
const DETAIL_ACTIVITY: Partial<Record<DetailKind, [number, string]>> = {
  receive: [2, 'Receive'],
  send: [1, 'Send'],
  spam: [3, 'Scan'],
  malware: [3, 'Scan'],
  'transport-rule': [3, 'Scan'],
  'dlp-rule': [3, 'Scan'],
  quarantine: [3, 'Scan'],
};

/** status_id of a detail: the outcome of the step (a scan that ran is a Success; its verdict is the disposition). */
function detailStatusOf(facts: DetailFacts): [number, string] {
  switch (facts.kind) {
    case 'fail':
    case 'defer':
      return [2, 'Failure'];
    case 'drop':
      if (facts.enhancedStatus?.startsWith('2.') || facts.smtpCode?.startsWith('2')) return [1, 'Success'];
      return facts.enhancedStatus || facts.smtpCode ? [2, 'Failure'] : [0, 'Unknown'];
    case 'other':
      return [0, 'Unknown'];
    default:
      return [1, 'Success'];
  }
}

/** action_id / disposition_id (security_control profile) of a control's verdict. */
function detailControlOf(verdict: ControlVerdict | undefined, facts: DetailFacts): { action_id: number; action: string; disposition_id: number; disposition: string } | undefined {
  switch (verdict) {
    case 'allowed': return { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' };
    case 'blocked': return { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' };
    case 'quarantined': return { action_id: 2, action: 'Denied', disposition_id: 3, disposition: 'Quarantined' };
    case 'deleted': return { action_id: 2, action: 'Denied', disposition_id: 5, disposition: 'Deleted' };
    case 'junk': return { action_id: 4, action: 'Modified', disposition_id: 99, disposition: 'Junk Email folder' };
    case 'modified': return { action_id: 4, action: 'Modified', disposition_id: 99, disposition: facts.ruleAction ?? 'Modified' };
    case 'detected': return { action_id: 3, action: 'Observed', disposition_id: 15, disposition: 'Detected' };
    default: return undefined;
  }
}

/** confidence_id from the spam confidence level: 7-9 High, 5-6 Medium, below Low. */
function confidenceOf(scl: number | undefined): [number, string] | undefined {
  if (scl === undefined) return undefined;
  if (scl >= 7) return [3, 'High'];
  if (scl >= 5) return [2, 'Medium'];
  return [1, 'Low'];
}

export function toOcsfDetail(event: TraceEvent, acceptedDomains: readonly string[]): Record<string, unknown> {
  const r = event.row;
  const d = event.detail!;
  const facts = detailFacts(d);
  const sender = text(r.senderAddress);
  const recipient = text(r.recipientAddress);
  const [directionId, direction] = DIRECTION_IDS[mailDirection(sender, recipient, acceptedDomains)];
  const [activityId, activity] = DETAIL_ACTIVITY[facts.kind] ?? [4, 'Trace'];
  const [statusId, statusName] = detailStatusOf(facts);
  const verdict = controlVerdict(facts, d.action);
  const control = detailControlOf(verdict, facts);
  const confidence = control ? confidenceOf(facts.scl) : undefined;
  const ruled = facts.ruleName !== undefined || facts.ruleId !== undefined || facts.rulePolicyName !== undefined;
  const dlp = facts.kind === 'dlp-rule' || facts.rulePolicyName !== undefined || facts.rulePolicyId !== undefined;
  const policy = control && ruled ? {
    name: dlp ? facts.rulePolicyName ?? facts.ruleName : facts.ruleName,
    uid: dlp ? facts.rulePolicyId ?? facts.ruleId : facts.ruleId,
    type: dlp ? 'DLP policy' : 'Mail flow rule',
    desc: dlp && facts.ruleName ? `DLP rule '${facts.ruleName}'${facts.ruleId ? ` (${facts.ruleId})` : ''}` : undefined,
    is_applied: true,
  } : undefined;
  const ms = receivedMs(d.dateTime);
  const fields = detailFieldsOf(event);
  const denied = verdict === 'blocked' || verdict === 'quarantined' || verdict === 'deleted';
  return compact({
    class_uid: 4009,
    class_name: 'Email Activity',
    category_uid: 4,
    category_name: 'Network Activity',
    activity_id: activityId,
    activity_name: activity,
    type_uid: 400900 + activityId,
    type_name: `Email Activity: ${activity}`,
    time: Number.isNaN(ms) ? Date.parse(event.collectedAt) : ms,
    severity_id: denied ? 2 : 1,
    severity: denied ? 'Low' : 'Informational',
    status_id: statusId,
    status: statusName,
    status_code: facts.enhancedStatus ?? facts.smtpCode,
    status_detail: facts.smtpResponse ?? text(d.description),
    message: text(d.description),
    timezone_offset: 0,
    direction_id: directionId,
    direction,
    message_trace_uid: text(r.id),
    ...control,
    confidence_id: confidence?.[0],
    confidence: confidence?.[1],
    confidence_score: control ? facts.scl : undefined,
    policy,
    from: sender,
    to: recipient ? [recipient] : undefined,
    email: {
      message_uid: text(d.messageId) ?? text(r.messageId),
      from: sender,
      to: recipient ? [recipient] : undefined,
      subject: text(r.subject),
      size: typeof r.size === 'number' ? r.size : undefined,
    },
    src_endpoint: { ip: text(r.fromIP) },
    dst_endpoint: facts.remoteIp || facts.remoteHost ? { ip: facts.remoteIp, hostname: facts.remoteHost } : { ip: text(r.toIP) },
    raw_data: JSON.stringify(d),
    metadata: {
      version: OCSF_VERSION,
      profiles: control ? ['security_control'] : undefined,
      uid: event.eventId,
      correlation_uid: event.traceEventId,
      log_name: 'MessageTraceDetail',
      event_code: text(d.event),
      sequence: typeof event.detailIndex === 'number' ? event.detailIndex : undefined,
      tenant_uid: event.tenantId,
      logged_time: Date.parse(event.collectedAt),
      original_time: text(d.dateTime),
      product: { name: 'message-trace-collector', vendor_name: 'message-trace-collector', feature: { name: event.api } },
    },
    unmapped: {
      source_id: event.sourceId,
      fields: Object.keys(fields).length ? fields : undefined,
      detail: {
        kind: facts.kind,
        row_key: event.rowKey,
        detail_count: event.detailCount,
        trace_status: canonicalStatus(r.status) || undefined,
        action: text(d.action),
        sfv: facts.sfv,
        spam_category: facts.spamCategory,
        spam_action: facts.spamAction,
        rule_name: facts.ruleName,
        rule_id: facts.ruleId,
        rule_action: facts.ruleAction,
        rule_mode: facts.ruleMode,
        smtp_code: facts.smtpCode,
        server: facts.server,
        component: facts.component,
        folder: facts.folder,
        malware_name: facts.malwareName,
        client_ip: facts.clientIp,
        data_truncated: facts.dataTruncated,
        data_malformed: facts.dataMalformed,
      },
    },
  });
}

export const ocsfFormat = { name: 'ocsf', map: (event, domains) => (isDetailEvent(event) ? toOcsfDetail(event, domains) : toOcsf(event, domains)) } as const satisfies FormatSpec;
