/**
 * A detail event (one getDetailsByRecipient event) as a Google SecOps UDM event, for the
 * google-secops destination: Google has no parser for message trace details (its
 * OFFICE_365_MESSAGETRACE parser reads trace rows and would turn a detail into one more
 * EMAIL_TRANSACTION), so details go to SecOps as UDM events (`udmevents:batchCreate`), normalised
 * here. Not a value of the `format` option.
 *
 * - metadata: event_type EMAIL_UNCATEGORIZED, event_timestamp the detail's dateTime, vendor
 *   Microsoft, product Exchange Online, product_event_type the event name (Fail, Spam, Transport
 *   rule, …), product_log_id the collector's eventId, description the description;
 * - network.email: the message (from, to, mail_id, subject) as in its trace row; network.smtp.server_response
 *   the SMTP response of a Fail, Defer or Drop;
 * - principal / target: sender and recipient (and the remote server of an outbound failure);
 *   intermediary: the Exchange Online server;
 * - security_result: summary (event name), description (the SMTP response or description), action
 *   (ALLOW, BLOCK, QUARANTINE, ALLOW_WITH_MODIFICATION for a control's verdict, FAIL for a failed
 *   delivery), rule_name / rule_id (transport or DLP rule), category (MAIL_SPAM for spam and bulk,
 *   MAIL_PHISHING for phishing and spoofing or impersonation, SOFTWARE_MALICIOUS, DATA_EXFILTRATION for
 *   a DLP rule), confidence_details (the SCL), detection_fields (SFV, CAT, DI, SCL, the enhanced status code);
 * - additional: the collector's join keys (trace_event_id, row_key, detail_index, detail_count), the
 *   tenant and source, the row's status, and `data`, the XML blob whole.
 *
 * The enum values and field paths used are checked against ./testdata/udm-fields.json (from Google's
 * UDM field list and API reference) by test/destinations/google-secops.test.ts; the golden file is
 * ./testdata/expected_udm_detail.json.
 */
import type { TraceEvent } from '../../model/row';
import { controlVerdict, detailFacts, threatCategoryOf } from '../detail';
import { canonicalStatus, compact, detailFieldsOf, detailIso, text } from '../fields';

const ACTIONS = { allowed: 'ALLOW', blocked: 'BLOCK', deleted: 'BLOCK', quarantined: 'QUARANTINE', junk: 'ALLOW_WITH_MODIFICATION', modified: 'ALLOW_WITH_MODIFICATION', detected: 'UNKNOWN_ACTION' } as const;
const CATEGORIES = { phishing: 'MAIL_PHISHING', spam: 'MAIL_SPAM', bulk: 'MAIL_SPAM', spoofing: 'MAIL_PHISHING', malware: 'SOFTWARE_MALICIOUS' } as const;

export function toDetailUdm(event: TraceEvent): Record<string, unknown> {
  const r = event.row;
  const d = event.detail!;
  const facts = detailFacts(d);
  const sender = text(r.senderAddress);
  const recipient = text(r.recipientAddress);
  const verdict = controlVerdict(facts, d.action);
  const threat = threatCategoryOf(facts);
  const category = [
    threat ? CATEGORIES[threat] : undefined,
    facts.kind === 'dlp-rule' ? 'DATA_EXFILTRATION' : undefined,
  ].filter((c): c is string => !!c);
  const action = verdict ? ACTIONS[verdict] : facts.kind === 'fail' ? 'FAIL' : undefined;
  const denied = verdict === 'blocked' || verdict === 'quarantined' || verdict === 'deleted';
  const detection = [
    ['SFV', facts.sfv], ['CAT', facts.spamCategory], ['DI', facts.spamAction], ['SCL', facts.scl === undefined ? undefined : String(facts.scl)],
    ['EnhancedStatusCode', facts.enhancedStatus], ['SmtpStatusCode', facts.smtpCode], ['RuleAction', facts.ruleAction], ['Folder', facts.folder],
  ].filter((kv): kv is [string, string] => !!kv[1]).map(([key, value]) => ({ key, value }));
  const fields = detailFieldsOf(event);
  return compact({
    metadata: {
      event_timestamp: detailIso(event) ?? event.collectedAt,
      event_type: 'EMAIL_UNCATEGORIZED',
      vendor_name: 'Microsoft',
      product_name: 'Exchange Online',
      product_event_type: text(d.event),
      product_log_id: event.eventId,
      description: text(d.description),
    },
    principal: { user: { email_addresses: sender ? [sender] : undefined }, ip: text(r.fromIP) ? [text(r.fromIP)] : undefined },
    target: {
      user: { email_addresses: recipient ? [recipient] : undefined },
      hostname: facts.remoteHost,
      ip: facts.remoteIp ? [facts.remoteIp] : text(r.toIP) ? [text(r.toIP)] : undefined,
    },
    intermediary: facts.server ? [{ hostname: facts.server }] : undefined,
    network: {
      application_protocol: 'SMTP',
      email: { from: sender, to: recipient ? [recipient] : undefined, mail_id: text(d.messageId) ?? text(r.messageId), subject: text(r.subject) ? [text(r.subject)] : undefined },
      smtp: { server_response: facts.smtpResponse ? [facts.smtpResponse] : undefined },
    },
    security_result: [{
      summary: text(d.event),
      description: facts.smtpResponse ?? text(d.description),
      action: action ? [action] : undefined,
      action_details: text(d.action) ?? facts.ruleAction,
      rule_name: facts.ruleName ?? facts.rulePolicyName,
      rule_id: facts.ruleId ?? facts.rulePolicyId,
      category: category.length ? category : undefined,
      category_details: facts.spamCategory ? [facts.spamCategory] : undefined,
      confidence_details: facts.scl === undefined ? undefined : `SCL ${facts.scl}`,
      severity: denied ? 'LOW' : 'INFORMATIONAL',
      detection_fields: detection.length ? detection : undefined,
    }],
    additional: {
      trace_event_id: event.traceEventId,
      row_key: event.rowKey,
      detail_index: event.detailIndex,
      detail_count: event.detailCount,
      tenant_id: event.tenantId,
      source_id: event.sourceId,
      message_trace_id: text(r.id),
      trace_status: canonicalStatus(r.status) || undefined,
      data: text(d.data),
      fields: Object.keys(fields).length ? fields : undefined,
    },
  });
}
