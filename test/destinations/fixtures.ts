/** Trace events for the destination and format tests: inbound, outbound and internal mail. */
import { makeDetailEvents, makeEvent, type MessageTraceDetail, type MessageTraceRow, type TraceEvent } from '../../shared/model/row';

export const TENANT = '8f2c1a9e-3b4d-4c6e-9f01-23456789abcd';
export const ACCEPTED = ['contoso.com', 'contoso.onmicrosoft.com'];

export function sampleEvents(): TraceEvent[] {
  const base = { tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2026-11-18T14:40:00.000Z' };
  return [
    makeEvent({ ...base, fields: {}, row: { id: '4f1e2d3c-0000-4000-8000-000000000001', senderAddress: 'alerts@fabrikam.com', recipientAddress: 'Linus@contoso.com', messageId: '<a1@fabrikam.com>', receivedDateTime: '2026-11-18T14:37:12.1234567Z', subject: 'Invoice 42', size: 33435, fromIP: '203.0.113.7', toIP: '198.51.100.20', status: 'delivered' } }),
    makeEvent({ ...base, fields: {}, row: { id: '4f1e2d3c-0000-4000-8000-000000000002', senderAddress: 'ada@contoso.com', recipientAddress: 'bob@example.org', messageId: '<b2@contoso.com>', receivedDateTime: '2026-11-18T14:38:00Z', subject: 'Re: plans', size: 1200, fromIP: '198.51.100.21', toIP: '', status: 'failed' } }),
    makeEvent({ ...base, api: 'graph/beta', fields: { customer: 'contoso', priority: 3 }, row: { id: '4f1e2d3c-0000-4000-8000-000000000003', senderAddress: 'ada@contoso.com', recipientAddress: 'grace@sub.contoso.com', messageId: '<c3@contoso.com>', receivedDateTime: '2026-11-18T14:39:30.5Z', subject: 'Quarterly numbers', size: 5120, fromIP: '198.51.100.21', status: 'Quarantined' } }),
  ];
}

/** `n` distinct events (for batching tests). */
export function manyEvents(n: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push(makeEvent({ tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2026-11-18T14:40:00.000Z', fields: {}, row: { id: `id-${i}`, senderAddress: `s${i}@fabrikam.com`, recipientAddress: `r${i}@contoso.com`, receivedDateTime: new Date(Date.UTC(2026, 10, 18, 14, 0, i % 60)).toISOString(), subject: `subject ${i} ${'x'.repeat(100)}`, size: 1000 + i, status: 'delivered' } }));
  }
  return out;
}

const detail = (dateTime: string, ev: string, description: string, data: string, action = ''): MessageTraceDetail => ({ dateTime, event: ev, action, description, data });
const mep = (...facts: [string, string, string][]) => `<root>${facts.map(([name, type, value]) => `<MEP Name="${name}" ${type}="${value}" />`).join('')}</root>`;

/** The trace rows the detail fixtures explain: failed, quarantined and spam-filtered mail. */
export function detailRows(): Record<'failedOutbound' | 'failedUnknownRecipient' | 'quarantinedByRule' | 'filteredAsSpam' | 'quarantinedPhish', MessageTraceRow> {
  const [, failed, quarantined] = sampleEvents();
  return {
    failedOutbound: failed!.row,
    failedUnknownRecipient: { id: '4f1e2d3c-0000-4000-8000-000000000005', senderAddress: 'alerts@fabrikam.com', recipientAddress: 'ghost@contoso.com', messageId: '<e5@fabrikam.com>', receivedDateTime: '2026-11-18T14:41:02.25Z', subject: 'Your invoice', size: 20480, fromIP: '203.0.113.7', toIP: '', status: 'failed' },
    quarantinedByRule: quarantined!.row,
    filteredAsSpam: { id: '4f1e2d3c-0000-4000-8000-000000000004', senderAddress: 'promo@spam.example', recipientAddress: 'Linus@contoso.com', messageId: '<d4@spam.example>', receivedDateTime: '2026-11-18T14:39:50Z', subject: 'You won', size: 4000, fromIP: '192.0.2.9', toIP: '', status: 'filteredAsSpam' },
    quarantinedPhish: { id: '4f1e2d3c-0000-4000-8000-000000000006', senderAddress: 'security@login-m1crosoft.example', recipientAddress: 'Linus@contoso.com', messageId: '<f6@login-m1crosoft.example>', receivedDateTime: '2026-11-18T14:42:10Z', subject: 'Action required: verify your mailbox', size: 9120, fromIP: '192.0.2.66', toIP: '', status: 'quarantined' },
  };
}

/** Realistic getDetailsByRecipient answers (shapes from the Graph API and Get-MessageTraceDetail) for those rows. */
export function detailAnswers(): Record<keyof ReturnType<typeof detailRows>, MessageTraceDetail[]> {
  const server = 'AM0PR04MB7123.eurprd04.prod.outlook.com';
  return {
    failedOutbound: [
      detail('2026-11-18T14:38:00.412Z', 'Receive', `Message received by: ${server}`, mep(['ConnectorId', 'String', 'AM0PR04MB7123\\Client Submission'], ['ClientIP', 'String', '198.51.100.21'], ['ServerHostName', 'String', server], ['SequenceNumber', 'Long', '0'])),
      detail('2026-11-18T14:38:01.090Z', 'Send external', 'Message sent to mx.example.org at 203.0.113.5 using TLS1.2 with AES256', mep(['ServerHostName', 'String', server], ['RecipientReference', 'String', 'bob@example.org'])),
      detail('2026-11-18T14:38:01.655Z', 'Fail', 'Reason: [{LED=550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table};{MSG=550 5.1.1 User unknown};{FQDN=mx.example.org};{IP=203.0.113.5};{LRT=}]. OutboundProxyTargetIP: 203.0.113.5.', mep(['ServerHostName', 'String', server], ['IsSmtpResponseFromExternalServer', 'String', 'True'], ['RecipientStatus', 'String', '550 5.1.1 &lt;bob@example.org&gt;: Recipient address rejected'])),
    ],
    failedUnknownRecipient: [
      detail('2026-11-18T14:41:02.250Z', 'Receive', `Message received by: ${server}`, mep(['ClientIP', 'String', '203.0.113.7'], ['ServerHostName', 'String', server], ['CustomData', 'Blob', 'S:ProxyHop1=AM6P194CA0001.outlook.office365.com(10.167.20.1);S:tlsversion=SP_PROT_TLS1_2_SERVER;S:tlscipher=CALG_AES_256'])),
      detail('2026-11-18T14:41:03.010Z', 'Fail', 'Reason: [{LED=550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup};{MSG=};{FQDN=};{IP=};{LRT=}]', mep(['ServerHostName', 'String', server], ['SourceContext', 'String', 'CatResolver'])),
    ],
    quarantinedByRule: [
      detail('2026-11-18T14:39:31.120Z', 'Transport rule', "Transport rule: 'Quarantine payroll keywords', ID: ('9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e'), DLP policy: '', ID: (00000000-0000-0000-0000-000000000000).", mep(['RcptCount', 'Integer', '1'], ['SourceContext', 'String', 'Transport Rule Agent'], ['CustomData', 'Blob', 'S:TRA=ETR|ruleId=9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e|st=11/18/2026 2:39:31 PM|action=Quarantine|sev=1|mode=Enforce'])),
      detail('2026-11-18T14:39:32.400Z', 'Deliver', 'The message was successfully delivered to the folder: DefaultFolderType:QuarantinedEmailSecured', mep(['MailboxServer', 'String', 'AM9PR04MB8155.eurprd04.prod.outlook.com'], ['RecipientStatus', 'String', 'DefaultFolderType:QuarantinedEmailSecured-Mailbox Delivery Filter Agent'])),
    ],
    filteredAsSpam: [
      detail('2026-11-18T14:39:50.000Z', 'Receive', `Message received by: ${server}`, mep(['ClientIP', 'String', '192.0.2.9'], ['ServerHostName', 'String', server])),
      detail('2026-11-18T14:39:51.300Z', 'Spam', 'Spam confidence level: 6', mep(['DI', 'String', 'SJ'], ['SCL', 'Integer', '6'], ['SFV', 'String', 'SPM'], ['CIP', 'String', '192.0.2.9'], ['CustomData', 'Blob', 'S:SFA=SUM|SFV=SPM|IPV=NLI|SRV=|SFS=470454002|SFS=349001|SCL=6|SCORE=-1|LIST=0|DI=SJ|RD=mail.spam.example|H=mail.spam.example|CIP=192.0.2.9|CTRY=US|LANG=en|CAT=SPM;'])),
      detail('2026-11-18T14:39:52.050Z', 'Deliver', 'The message was successfully delivered to the folder: DefaultFolderType:JunkEmail', mep(['MailboxServer', 'String', 'AM9PR04MB8155.eurprd04.prod.outlook.com'])),
    ],
    quarantinedPhish: [
      detail('2026-11-18T14:42:10.000Z', 'Receive', `Message received by: ${server}`, mep(['ClientIP', 'String', '192.0.2.66'], ['ServerHostName', 'String', server])),
      detail('2026-11-18T14:42:11.700Z', 'Spam', 'Spam confidence level: 9', mep(['SourceContext', 'String', 'AgentDefer - Antispam Quarantine Agent'], ['DI', 'String', 'SQ'], ['SCL', 'Integer', '9'], ['SFV', 'String', 'SPM'], ['CAT', 'String', 'HPHISH'], ['CIP', 'String', '192.0.2.66']), 'Quarantine'),
      detail('2026-11-18T14:42:12.900Z', 'Deliver', 'The message was successfully delivered to the folder: DefaultFolderType:QuarantinedEmailSecured', mep(['MailboxServer', 'String', 'AM9PR04MB8155.eurprd04.prod.outlook.com'], ['RecipientStatus', 'String', 'DefaultFolderType:QuarantinedEmailSecured-Mailbox Delivery Filter Agent'])),
    ],
  };
}

/** The detail events of every fixture row, row after row. */
export function sampleDetailEvents(): TraceEvent[] {
  const rows = detailRows();
  const answers = detailAnswers();
  return (Object.keys(rows) as (keyof typeof rows)[]).flatMap((k) => makeDetailEvents({
    tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2026-11-18T15:10:00.000Z',
    fields: k === 'quarantinedByRule' ? { customer: 'contoso', priority: 3 } : {},
    row: rows[k], details: answers[k].map((d) => ({ ...d, id: rows[k].id, messageId: rows[k].messageId })),
  }));
}

/** A mixed batch, as a page of the pipeline can hold: trace rows with the detail events of one of them in between. */
export function mixedEvents(): TraceEvent[] {
  const [delivered, failed, quarantined] = sampleEvents();
  const details = sampleDetailEvents().filter((e) => e.rowKey === sampleDetailEvents()[0]!.rowKey);
  return [delivered!, failed!, ...details, quarantined!];
}
