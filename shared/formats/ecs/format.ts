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
 *
 * A detail event (one getDetailsByRecipient event) is an ECS event of its own dataset,
 * `mtc.message_trace_detail` (no Elastic integration reads details; the elastic destination writes
 * them to that data stream, docs/siem/elastic.md): `event.action` is the event name in kebab case
 * (`fail`, `transport-rule`, `spam`), `event.outcome` the step's outcome, `event.reason` the SMTP
 * response or the description, `event.sequence` its place among the row's details, `event.risk_score`
 * the spam confidence level; `rule.*` the transport or DLP rule; `observer.*` Exchange Online and its
 * server; `email.*`, `source.*`, `destination.*` the message as in its trace row;
 * `microsoft.online_message_trace_detail.*` the legacy MessageTraceDetail record (with `Data`, the XML
 * blob, whole); `mtc.trace_event_id` / `mtc.row_key` the trace row's `event.id` and row key, and
 * `mtc.detail.*` the parsed facts ECS has no field for (SFV, spam category, SMTP codes, …).
 * ./testdata/expected_ecs_detail.json is the golden file.
 */
import { isIP } from 'node:net';
import { isDetailEvent, type TraceEvent } from '../../model/row';
import type { FormatSpec } from '../spec';
import { controlVerdict, detailFacts, type DetailFacts } from '../detail';
import { domainOf, mailDirection } from '../direction';
import { canonicalStatus, compact, customFieldsOf, detailFieldsOf, detailIso, kebab, receivedIso, text } from '../fields';
import { toMessageTrace, toMessageTraceDetail } from '../o365-messagetrace/format';

export const ECS_VERSION = '8.17.0';
/** The dataset of Elastic's message trace integration, whose dashboards filter on it. */
export const ECS_DATASET = 'microsoft_exchange_online_message_trace.log';
/** The dataset of detail events (ours: no Elastic integration has one). */
export const ECS_DETAIL_DATASET = 'mtc.message_trace_detail';

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

/** event.outcome of a detail: the outcome of that step of the message's route. */
export function ecsDetailOutcome(facts: DetailFacts): 'success' | 'failure' | 'unknown' {
  switch (facts.kind) {
    case 'fail':
    case 'defer':
      return 'failure';
    case 'drop':
      return facts.enhancedStatus?.startsWith('2.') || facts.smtpCode?.startsWith('2') ? 'success' : facts.enhancedStatus || facts.smtpCode ? 'failure' : 'unknown';
    case 'receive':
    case 'submit':
    case 'send':
    case 'deliver':
    case 'expand':
    case 'redirect':
      return 'success';
    default:
      return 'unknown';
  }
}

const ips = (...v: (string | undefined)[]) => [...new Set(v.filter((x): x is string => !!x && isIP(x) !== 0))];

export function toEcsDetail(event: TraceEvent, acceptedDomains: readonly string[]): Record<string, unknown> {
  const r = event.row;
  const d = event.detail!;
  const facts = detailFacts(d);
  const sender = text(r.senderAddress);
  const recipient = text(r.recipientAddress);
  const fromIp = text(r.fromIP);
  const toIp = text(r.toIP);
  const direction = mailDirection(sender, recipient, acceptedDomains);
  const fields = detailFieldsOf(event);
  const verdict = controlVerdict(facts, d.action);
  const denied = verdict === 'blocked' || verdict === 'quarantined' || verdict === 'deleted';
  const ruled = facts.ruleName !== undefined || facts.ruleId !== undefined;
  return compact({
    '@timestamp': detailIso(event) ?? event.collectedAt,
    ecs: { version: ECS_VERSION },
    message: text(d.description),
    event: {
      kind: 'event',
      category: ['email'],
      type: denied ? ['info', 'denied'] : verdict === 'allowed' ? ['info', 'allowed'] : ['info'],
      action: kebab(d.event),
      outcome: ecsDetailOutcome(facts),
      reason: facts.smtpResponse ?? text(d.description),
      id: event.eventId,
      created: event.collectedAt,
      dataset: ECS_DETAIL_DATASET,
      provider: event.api,
      sequence: typeof event.detailIndex === 'number' ? event.detailIndex : undefined,
      risk_score: facts.scl,
    },
    email: {
      local_id: text(r.id),
      message_id: text(d.messageId) ?? text(r.messageId),
      subject: text(r.subject),
      from: { address: sender ? [sender] : undefined },
      sender: { address: sender },
      to: { address: recipient ? [recipient] : undefined },
      direction: direction === 'unknown' ? undefined : direction,
    },
    rule: ruled ? { name: facts.ruleName, id: facts.ruleId, ruleset: facts.rulePolicyName, category: facts.kind === 'dlp-rule' ? 'DLP rule' : 'Mail flow rule' } : undefined,
    observer: { vendor: 'Microsoft', product: 'Exchange Online', hostname: facts.server },
    source: { ip: fromIp, domain: domainOf(sender) || undefined, user: { email: sender, id: sender, name: localPart(sender), domain: domainOf(sender) || undefined } },
    destination: { ip: toIp, domain: domainOf(recipient) || undefined, user: { email: recipient, id: recipient, name: localPart(recipient), domain: domainOf(recipient) || undefined } },
    related: {
      ip: ips(fromIp, toIp, facts.clientIp, facts.remoteIp),
      user: [...new Set([recipient, sender, localPart(recipient), localPart(sender)].filter((x): x is string => !!x))],
      hosts: [...new Set([facts.server, facts.remoteHost].filter((x): x is string => !!x))],
    },
    organization: { id: event.tenantId },
    microsoft: { online_message_trace_detail: toMessageTraceDetail(event) },
    mtc: {
      source_id: event.sourceId,
      fields: Object.keys(fields).length ? fields : undefined,
      trace_event_id: event.traceEventId,
      row_key: event.rowKey,
      detail_count: event.detailCount,
      trace_status: canonicalStatus(r.status) || undefined,
      detail: {
        kind: facts.kind,
        sfv: facts.sfv,
        spam_category: facts.spamCategory,
        spam_action: facts.spamAction,
        verdict,
        rule_action: facts.ruleAction,
        rule_mode: facts.ruleMode,
        rule_policy_id: facts.rulePolicyId,
        smtp_code: facts.smtpCode,
        enhanced_status: facts.enhancedStatus,
        remote_host: facts.remoteHost,
        remote_ip: facts.remoteIp,
        client_ip: facts.clientIp,
        folder: facts.folder,
        component: facts.component,
        malware_name: facts.malwareName,
        data_truncated: facts.dataTruncated,
        data_malformed: facts.dataMalformed,
      },
    },
  });
}

export const ecsFormat = { name: 'ecs', map: (event, domains) => (isDetailEvent(event) ? toEcsDetail(event, domains) : toEcs(event, domains)) } as const satisfies FormatSpec;
