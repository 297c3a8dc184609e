/**
 * The events of one trace row as `getDetailsByRecipient` returns them (reference B.6): what
 * happened to the message for that recipient, explaining its status (delivered, failed with an
 * NDR, quarantined, filtered as spam, expanded, still pending...).
 *
 * The route of a row is a pure function of its identity (seed, tenant, id|recipient), its status
 * and the instant asked about, so the same row always gets the same events and the ground truth
 * (`Simulator.detailsGroundTruth`) is exactly what the endpoint answers. Which evidence backs
 * each shape (Microsoft documentation, third-party observation, or UNCONFIRMED) is recorded in
 * simulator/README.md, section "getDetailsByRecipient".
 */
import { compareInstant, type Instant } from './instant';
import { hash32, hashString, Prng } from './prng';
import { formatReceived, rowIdentity, type ReceivedPrecision, type TraceRow, type TraceStatus } from './traffic';

/** Event names the sources disagree on or do not show (UNCONFIRMED, see README). */
export interface DetailEventNames {
  /** Anti-spam verdict. Default 'Spam' (third-party lab output); 'Spam Diagnostics' is another name in circulation. */
  spam: string;
  /** Anti-malware verdict. Default 'Malware'. */
  malware: string;
  /** Mail flow (transport) rule match. Default 'Transport rule'. */
  transportRule: string;
  /** Distribution-list expansion. Default 'Expand' (EAC documentation); a third-party lab saw 'Expand DL'. */
  expand: string;
  /** Handed to a remote server. Default 'Send external'. */
  sendExternal: string;
  /** With detailQuarantine 'quarantineEvent': the quarantine step. Default 'Quarantine'. */
  quarantine: string;
}

export const DEFAULT_DETAIL_EVENT_NAMES: DetailEventNames = {
  spam: 'Spam',
  malware: 'Malware',
  transportRule: 'Transport rule',
  expand: 'Expand',
  sendExternal: 'Send external',
  quarantine: 'Quarantine',
};

export interface DetailShapeOptions {
  /** 'fields': one MEP per verdict field (SCL, SFV, CAT, BCL, DI...); 'customData': one CustomData blob `S:SFA=SUM|SFV=…|SCL=…`. */
  spamData: 'fields' | 'customData';
  /** 'deliverToQuarantine': a Deliver to the quarantine folder; 'quarantineEvent': a separate quarantine event naming type and policy. */
  quarantine: 'deliverToQuarantine' | 'quarantineEvent';
  eventNames: DetailEventNames;
}

/** One `exchangeMessageTraceDetail` (B.6), fields in the documented order. */
export interface DetailEvent {
  '@odata.type'?: '#microsoft.graph.exchangeMessageTraceDetail';
  id: string;
  messageId: string;
  dateTime: string;
  event: string;
  action: string;
  description: string;
  data: string;
}

export interface DetailContext {
  seed: number;
  tenantIndex: number;
  /** The tenant's primary accepted domain. */
  domain: string;
  /** How many recipients the message has (Submit's and Receive's RcptCount). */
  recipients: number;
  precision: ReceivedPrecision;
  version: 'v1.0' | 'beta';
  shape: DetailShapeOptions;
}

type MepType = 'String' | 'Integer' | 'Long' | 'Blob';
type Mep = [name: string, type: MepType, value: string | number];

interface Step {
  ms: number;
  event: string;
  action: string;
  description: string;
  data: Mep[];
}

/** XML attribute text: the five characters XML reserves become references. */
export function xmlAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function renderData(meps: readonly Mep[], sequence: number): string {
  const all: Mep[] = [...meps, ['SequenceNumber', 'Long', sequence]];
  return `<root>${all.map(([n, t, v]) => `<MEP Name="${xmlAttr(n)}" ${t}="${xmlAttr(String(v))}" />`).join('')}</root>`;
}

/** `Reason: [{LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=}]`, the shape of Fail/Defer/Drop descriptions (OBS). */
function reasonText(led: string, remote: { msg?: string; fqdn?: string; ip?: string } = {}): string {
  return `Reason: [{LED=${led}};{MSG=${remote.msg ?? ''}};{FQDN=${remote.fqdn ?? ''}};{IP=${remote.ip ?? ''}};{LRT=}]`;
}

const REGIONS = [
  { region: 'nam', dcs: ['BN', 'CH', 'CO', 'DM', 'MN', 'SN', 'SA', 'PH', 'BL', 'CY'] },
  { region: 'eur', dcs: ['AM', 'DB', 'VI', 'PA', 'HE', 'AS', 'DU'] },
  { region: 'gbr', dcs: ['LO', 'CW', 'LN'] },
  { region: 'apc', dcs: ['SG', 'TY', 'HK', 'KL', 'PS', 'SE'] },
  { region: 'aus', dcs: ['SY', 'ME'] },
  { region: 'can', dcs: ['YT', 'YQ', 'TO'] },
];

/** Transport rules of a tenant: name, what they do, and which routes use them. */
interface RuleSpec { name: string; action: string; use: 'reject' | 'quarantine' | 'inform' | 'scl' }
const RULES: readonly RuleSpec[] = [
  { name: 'Block executable attachments', action: 'RejectMessage', use: 'reject' },
  { name: 'Block external auto-forwarding', action: 'RejectMessage', use: 'reject' },
  { name: 'Block R&D "Project Falcon" to external recipients', action: 'RejectMessage', use: 'reject' },
  { name: 'Reject mail from sanctioned countries', action: 'RejectMessage', use: 'reject' },
  { name: 'Quarantine external invoices with macros', action: 'Quarantine', use: 'quarantine' },
  { name: "Hold mail from newly registered domains (CISO's list)", action: 'Quarantine', use: 'quarantine' },
  { name: 'External sender disclaimer', action: 'ApplyHtmlDisclaimer', use: 'inform' },
  { name: 'Tag external email [EXTERNAL]', action: 'PrependSubject', use: 'inform' },
  { name: 'Copy legal hold mailbox', action: 'CopyTo', use: 'inform' },
  { name: 'Mark bulk newsletters as spam', action: 'SetSCL', use: 'scl' },
  { name: 'Spam-flag mail with spoofed display names', action: 'SetSCL', use: 'scl' },
];

/** Spam verdicts (X-Forefront-Antispam-Report CAT values, MS-DOC) and where they go. */
interface Verdict { cat: string; scl: number; bcl: number; quarantineType: string; policy: string }
const QUARANTINE_VERDICTS: readonly Verdict[] = [
  { cat: 'HPHSH', scl: 9, bcl: 0, quarantineType: 'HighConfPhish', policy: 'AdminOnlyAccessPolicy' },
  { cat: 'PHSH', scl: 8, bcl: 0, quarantineType: 'Phish', policy: 'DefaultFullAccessPolicy' },
  { cat: 'HSPM', scl: 9, bcl: 1, quarantineType: 'Spam', policy: 'DefaultFullAccessWithNotificationPolicy' },
  { cat: 'SPOOF', scl: 8, bcl: 0, quarantineType: 'Phish', policy: 'DefaultFullAccessPolicy' },
  { cat: 'BULK', scl: 6, bcl: 8, quarantineType: 'Bulk', policy: 'DefaultFullAccessPolicy' },
  { cat: 'UIMP', scl: 8, bcl: 0, quarantineType: 'Phish', policy: 'AdminOnlyAccessPolicy' },
];
const JUNK_VERDICTS: readonly Verdict[] = [
  { cat: 'SPM', scl: 5, bcl: 0, quarantineType: '', policy: '' },
  { cat: 'SPM', scl: 6, bcl: 2, quarantineType: '', policy: '' },
  { cat: 'BULK', scl: 6, bcl: 7, quarantineType: '', policy: '' },
  { cat: 'BULK', scl: 5, bcl: 9, quarantineType: '', policy: '' },
  { cat: 'SPOOF', scl: 6, bcl: 0, quarantineType: '', policy: '' },
  { cat: 'DIMP', scl: 6, bcl: 0, quarantineType: '', policy: '' },
];

const MALWARE = [
  { name: 'Trojan:Win32/Wacatac.B!ml', file: 'invoice_0423.zip' },
  { name: 'TrojanDownloader:O97M/Emotet.AR!MTB', file: 'Q1 P&L final.xlsm' },
  { name: 'Trojan:HTML/Phish.AVA!MTB', file: 'Remittance_Advice.html' },
  { name: 'Backdoor:JS/Qakbot.G', file: 'scan_2026-02.js' },
];

const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'NL', 'IN', 'BR', 'CN', 'RU', 'NG', 'VN', 'CA'];
const LANGUAGES = ['en', 'de', 'fr', 'pt', 'zh-cn', 'ru', 'es', 'nl'];

/** Per-tenant servers (deterministic): EOP front ends and mailbox servers of one region. */
class TenantServers {
  readonly frontEnds: string[] = [];
  readonly mailboxes: string[] = [];
  constructor(seed: number, tenantIndex: number) {
    const rng = new Prng(hash32(seed, tenantIndex, 0x5e7e));
    const { region, dcs } = REGIONS[tenantIndex % REGIONS.length]!;
    const prd = () => `${region}prd${String(rng.int(1, 20)).padStart(2, '0')}.prod.outlook.com`;
    for (let i = 0; i < 6; i++) this.frontEnds.push(`${rng.pick(dcs)}${rng.int(1, 3)}PEPF0000${rng.hex(4).toUpperCase()}.${prd()}`);
    for (let i = 0; i < 10; i++) this.mailboxes.push(`${rng.pick(dcs)}${rng.int(0, 9)}PR${String(rng.int(1, 19)).padStart(2, '0')}MB${rng.int(1000, 9999)}.${prd()}`);
  }
}
const serverCache = new Map<string, TenantServers>();
function serversOf(seed: number, tenantIndex: number): TenantServers {
  const key = `${seed}:${tenantIndex}`;
  let s = serverCache.get(key);
  if (!s) serverCache.set(key, (s = new TenantServers(seed, tenantIndex)));
  return s;
}

function mxOf(domain: string): string {
  if (domain === 'gmail.com') return 'gmail-smtp-in.l.google.com';
  if (domain === 'outlook.com') return 'outlook-com.olc.protection.outlook.com';
  return hashString(domain) % 2 === 0 ? `${domain.replace(/\./g, '-')}.mail.protection.outlook.com` : `mx1.${domain}`;
}

function ruleGuid(seed: number, tenantIndex: number, rule: number): string {
  return new Prng(hash32(seed, tenantIndex, 0x7e1e, rule)).guid();
}

/** A Long/Integer/String MEP list for an anti-spam verdict, in either data shape. */
function spamData(v: Verdict, sfv: string, di: string, row: TraceRow, rng: Prng, shape: DetailShapeOptions['spamData']): Mep[] {
  const ctry = rng.pick(COUNTRIES);
  const lang = rng.pick(LANGUAGES);
  const helo = `mail.${row.senderAddress.split('@')[1] ?? 'example.net'}`;
  const srv = v.cat === 'BULK' ? 'BULK' : '';
  const quarantine: Mep[] = v.quarantineType ? [['QuarantineType', 'String', v.quarantineType], ['QuarantinePolicy', 'String', v.policy]] : [];
  if (shape === 'customData') {
    const blob = `S:SFA=SUM|SFV=${sfv}|IPV=NLI|SRV=${srv}|SFS=${rng.int(100000, 999999)}|SCL=${v.scl}|SCORE=-1|LIST=0|DI=${di}|CAT=${v.cat}|BCL=${v.bcl}|H=${helo}|CIP=${row.fromIP}|SFP=1501|ASF=1|CTRY=${ctry}|CLTCTRY=|LANG=${lang};`;
    return [['CustomData', 'Blob', blob], ...quarantine];
  }
  return [
    ['SCL', 'Integer', v.scl], ['SFV', 'String', sfv], ['CAT', 'String', v.cat], ['BCL', 'Integer', v.bcl], ['DI', 'String', di],
    ['CIP', 'String', row.fromIP], ['CTRY', 'String', ctry], ['LANG', 'String', lang], ['H', 'String', helo], ...quarantine,
  ];
}

/**
 * The detail events of `row` as of `asOf`, given the status the list endpoint shows for it then.
 * Every time lies in [receivedDateTime, asOf]; events are in time order.
 */
export function detailEventsOf(row: TraceRow, status: TraceStatus, asOf: number, ctx: DetailContext): DetailEvent[] {
  const steps = routeOf(row, status, ctx);
  const out: DetailEvent[] = [];
  let prev: Instant = row.received;
  steps.forEach((s, i) => {
    // Sub-millisecond ticks come from the row's own instant for its Receive, from the step otherwise.
    let at: Instant = i === 0 ? row.received : { ms: s.ms, sub: (hash32(s.ms, i) % 10_000) };
    if (at.ms > asOf) at = { ms: asOf, sub: 0 }; // never in the future of the clock
    if (compareInstant(at, prev) < 0) at = prev;
    prev = at;
    out.push({
      ...(ctx.version === 'beta' ? { '@odata.type': '#microsoft.graph.exchangeMessageTraceDetail' as const } : {}),
      id: row.id,
      messageId: row.messageId,
      dateTime: formatReceived(at, ctx.precision),
      event: s.event,
      action: s.action,
      description: s.description,
      data: renderData(s.data, i),
    });
  });
  return out;
}

/** A step whose time is taken when the route runs (so choices and times come from the PRNG in a fixed order). */
type Thunk = () => Step;

/**
 * The steps of a row's route as of `status`. The route is planned for the row's final status;
 * while the row shows a transient status only its beginning has happened (gettingStatus: Receive
 * and Submit; pending: everything before the last step, then a Defer), so the events a row
 * shows only ever grow. A pending row's Defer stays in its final route, before the last step.
 */
function routeOf(row: TraceRow, status: TraceStatus, ctx: DetailContext): Step[] {
  const rng = new Prng(hash32(ctx.seed, ctx.tenantIndex, 0xde7a11, hashString(rowIdentity(row))));
  const names = ctx.shape.eventNames;
  const servers = serversOf(ctx.seed, ctx.tenantIndex);
  const frontEnd = rng.pick(servers.frontEnds);
  const mailbox = rng.pick(servers.mailboxes);
  const recipientDomain = row.recipientAddress.split('@')[1] ?? ctx.domain;
  const senderDomain = row.senderAddress.split('@')[1] ?? ctx.domain;
  const fromMailbox = row.direction !== 'inbound';
  const transient = row.transientStatus;
  const t0 = row.received.ms;
  let t = t0;
  const at = (minMs: number, maxMs: number) => (t += rng.int(minMs, maxMs));

  // Receive: from the Internet at an EOP front end, or from the sender's mailbox; then Submit.
  const start: Thunk[] = [() => ({
    ms: t0,
    event: 'Receive',
    action: '',
    description: `Message received by: ${fromMailbox ? mailbox : frontEnd}`,
    data: fromMailbox
      ? [['ClientName', 'String', mailbox], ['ClientIP', 'String', row.fromIP], ['ServerHostName', 'String', mailbox], ['SourceContext', 'String', 'MapiSubmission'],
        ['ReturnPath', 'String', row.senderAddress], ['DeliveryPriority', 'String', 'Normal']]
      : [['ConnectorId', 'String', `${frontEnd.split('.')[0]}\\Default ${frontEnd.split('.')[0]}`], ['ClientName', 'String', `mail.${senderDomain}`],
        ['ClientIP', 'String', row.fromIP], ['ServerHostName', 'String', frontEnd], ['ReturnPath', 'String', row.senderAddress],
        ['RcptCount', 'Integer', ctx.recipients], ['DeliveryPriority', 'String', 'Normal'],
        ['CustomData', 'Blob', `S:ProxyHop1=${frontEnd}(2a01:111:f403:${rng.hex(4)}::${rng.hex(3)});S:tlsversion=SP_PROT_TLS1_2_SERVER;S:tlscipher=CALG_AES_256`]],
  })];
  if (fromMailbox) {
    start.push(() => ({ ms: at(200, 1500), event: 'Submit', action: '', description: 'The message was submitted.', data: [['RcptCount', 'Integer', ctx.recipients], ['ServerHostName', 'String', mailbox]] }));
  }

  const deferStep: Thunk = () => {
    if (row.direction === 'outbound') {
      const mx = mxOf(recipientDomain);
      const ip = row.toIP || '203.0.113.25';
      const led = rng.next() < 0.5
        ? `451 4.4.316 Connection refused [Message=Socket error code 10061] [LastAttemptedServerName=${mx}] [LastAttemptedIP=${ip}:25]`
        : `450 4.4.317 Cannot connect to remote server [Message=SocketError: TimedOut] [LastAttemptedServerName=${mx}] [LastAttemptedIP=${ip}:25]`;
      return { ms: at(5_000, 20_000), event: 'Defer', action: '', description: reasonText(led, { fqdn: mx, ip }), data: [['ServerHostName', 'String', mailbox]] };
    }
    return {
      ms: at(5_000, 20_000), event: 'Defer', action: '',
      description: reasonText('432 4.3.2 STOREDRV.Deliver; recipient thread limit exceeded'),
      data: [['MailboxServer', 'String', mailbox], ['ServerHostName', 'String', mailbox]],
    };
  };
  const deliver = (folder?: 'JunkEmail' | 'QuarantinedEmailSecured'): Thunk => () => {
    const ms = at(500, 6_000);
    return {
      ms,
      event: 'Deliver',
      action: '',
      description: folder ? `The message was successfully delivered to the folder: DefaultFolderType:${folder}` : 'The message was successfully delivered.',
      data: [['MailboxServer', 'String', mailbox], ['TotalLatency', 'Integer', Math.max(0, Math.round((ms - t0) / 1000))],
        ...(folder === 'QuarantinedEmailSecured' ? [['RecipientStatus', 'String', 'DefaultFolderType:QuarantinedEmailSecured-Mailbox Delivery Filter Agent'] as Mep] : [])],
    };
  };
  const sendExternal: Thunk = () => {
    const mx = mxOf(recipientDomain);
    return {
      ms: at(800, 6_000), event: names.sendExternal, action: '',
      description: `Message sent to ${mx} at ${row.toIP || '203.0.113.25'} using TLS1.2 with AES256`,
      data: [['ServerHostName', 'String', mailbox], ['OutboundProxyTargetHostName', 'String', mx], ['OutboundProxyTargetIPAddress', 'String', row.toIP || '203.0.113.25'], ['RcptDomainMailSvr', 'String', mx]],
    };
  };
  const fail = (led: string, extra: Mep[] = [], remote?: { msg?: string; fqdn?: string; ip?: string }): Thunk => () => {
    const text = reasonText(led, remote);
    return { ms: at(300, 4_000), event: 'Fail', action: '', description: text, data: [['ServerHostName', 'String', fromMailbox ? mailbox : frontEnd], ['RecipientStatus', 'String', text.slice('Reason: '.length)], ...extra] };
  };
  const transportRule = (use: RuleSpec['use']): Thunk => {
    const rule = rng.pick(RULES.map((r, index) => ({ ...r, index })).filter((r) => r.use === use));
    const guid = ruleGuid(ctx.seed, ctx.tenantIndex, rule.index);
    const modified = new Date(Date.UTC(2025, (rule.index * 5) % 12, 3 + rule.index, 9, 14 + rule.index, 7)).toISOString().replace('Z', '0000Z');
    return () => ({
      ms: at(300, 2_500), event: names.transportRule, action: '',
      description: `Transport rule: '${rule.name}', ID: ('${guid}'), DLP policy: '', ID: (00000000-0000-0000-0000-000000000000).`,
      data: [['RcptCount', 'Integer', 1], ['SourceContext', 'String', 'Transport Rule Agent'],
        ['CustomData', 'Blob', `S:TRA=ETR|ruleId=${guid}|st=${modified}|action=${rule.action}|sev=1|mode=Enforce`]],
    });
  };
  const quarantineEnd = (type: string, policy: string): Thunk => {
    if (ctx.shape.quarantine === 'deliverToQuarantine') return deliver('QuarantinedEmailSecured');
    return () => ({
      ms: at(300, 3_000), event: names.quarantine, action: '',
      description: `The message was quarantined. Quarantine type: ${type}. Quarantine policy: ${policy}.`,
      data: [['QuarantineType', 'String', type], ['QuarantinePolicy', 'String', policy], ['ServerHostName', 'String', frontEnd]],
    });
  };

  // The route of the final status: the steps in the middle (rules, verdicts) and the terminal ones.
  const middle: Thunk[] = [];
  const terminal: Thunk[] = [];
  switch (row.finalStatus) {
    case 'delivered':
    case 'recalled': {
      // Inbound mail sometimes matches an informational rule (disclaimer, [EXTERNAL] tag) on the way.
      if (row.direction === 'inbound' && rng.next() < 0.3) middle.push(transportRule('inform'));
      terminal.push(row.direction === 'outbound' ? sendExternal : deliver());
      if (row.finalStatus === 'recalled') terminal.push(() => ({ ms: at(60_000, 3_600_000), event: 'Recall', action: '', description: 'The message was recalled.', data: [['MailboxServer', 'String', mailbox]] }));
      break;
    }
    case 'failed': {
      const route = failedRoute(row, rng, { fail, sendExternal, transportRule, mailbox, recipientDomain, senderDomain, transient });
      middle.push(...route.slice(0, -1));
      terminal.push(route[route.length - 1]!);
      break;
    }
    case 'quarantined': {
      const kind = rng.weighted({ verdict: 0.6, malware: 0.2, rule: 0.2 });
      if (kind === 'verdict') {
        const v = rng.pick(QUARANTINE_VERDICTS);
        middle.push(() => ({ ms: at(400, 3_000), event: names.spam, action: 'Quarantine', description: `Spam confidence level: ${v.scl}`,
          data: [['SourceContext', 'String', 'AgentDefer - Antispam Quarantine Agent'], ...spamData(v, 'SPM', 'SQ', row, rng, ctx.shape.spamData)] }));
        terminal.push(quarantineEnd(v.quarantineType, v.policy));
      } else if (kind === 'malware') {
        const m = rng.pick(MALWARE);
        middle.push(() => ({ ms: at(400, 3_000), event: names.malware, action: '', description: `Malware detected: '${m.name}' in attachment '${m.file}'.`,
          data: [['SourceContext', 'String', 'Malware Agent'],
            ['CustomData', 'Blob', `S:AMA=SUM|v=1|action=b|error=|atch=1;S:AMA=EV|engine=M|v=1|sig=1.${rng.int(400, 449)}.${rng.int(100, 2999)}.0|name=${m.name}|file=${m.file}`],
            ['QuarantineType', 'String', 'Malware'], ['QuarantinePolicy', 'String', 'AdminOnlyAccessPolicy']] }));
        terminal.push(quarantineEnd('Malware', 'AdminOnlyAccessPolicy'));
      } else {
        middle.push(transportRule('quarantine'));
        terminal.push(quarantineEnd('TransportRule', 'AdminOnlyAccessPolicy'));
      }
      break;
    }
    case 'filteredAsSpam': {
      // Mostly the content filter; sometimes a rule that sets the SCL first (SFV=SKS).
      const byRule = rng.next() < 0.2;
      if (byRule) middle.push(transportRule('scl'));
      const v = rng.pick(JUNK_VERDICTS);
      middle.push(() => ({ ms: at(400, 3_000), event: names.spam, action: '', description: `Spam confidence level: ${v.scl}`, data: spamData(v, byRule ? 'SKS' : 'SPM', 'SJ', row, rng, ctx.shape.spamData) }));
      terminal.push(deliver('JunkEmail'));
      break;
    }
    case 'expanded': {
      const members = rng.int(3, 400);
      terminal.push(() => ({ ms: at(200, 1_500), event: names.expand, action: '', description: 'The message was sent to a distribution list (DL) that was expanded to the recipients of the DL.',
        data: [['RcptCount', 'Integer', members], ['RelatedRecipient', 'String', row.recipientAddress], ['ServerHostName', 'String', mailbox]] }));
      terminal.push(() => ({ ms: at(0, 200), event: 'Drop', action: '', description: reasonText('250 2.1.5 RESOLVER.GRP.Expanded; distribution list expanded'), data: [['SourceContext', 'String', 'CatCleanup']] }));
      break;
    }
  }

  const run = (thunks: Thunk[]) => thunks.map((f) => f());
  if (status === 'gettingStatus') return run(start);
  const before = run([...start, ...middle, ...(transient === 'pending' ? [deferStep] : [])]);
  if (status === 'pending') return before;
  // The final status arrives at finalAtMs by the clock (rereadChanges 'status' rows: when served, so right away).
  if (transient && row.afterRead !== 'status') t = Math.max(t, row.finalAtMs - 1);
  return [...before, ...run(terminal)];
}

interface FailTools {
  fail: (led: string, extra?: Mep[], remote?: { msg?: string; fqdn?: string; ip?: string }) => Thunk;
  sendExternal: Thunk;
  transportRule: (use: RuleSpec['use']) => Thunk;
  mailbox: string;
  recipientDomain: string;
  senderDomain: string;
  transient: TraceRow['transientStatus'];
}

/** A non-delivery: several realistic reasons, chosen by the row's identity and direction. */
function failedRoute(row: TraceRow, rng: Prng, k: FailTools): Thunk[] {
  const ruleReject = (): Thunk[] => [k.transportRule('reject'),
    k.fail('550 5.7.1 TRANSPORT.RULES.RejectMessage; the message was rejected by organization policy', [['SourceContext', 'String', 'Transport Rule Agent']])];
  if (row.direction === 'outbound') {
    // A pending row that turned failed: the queue gave up (the simulator compresses Exchange's retry interval).
    if (k.transient === 'pending') return [k.fail('550 4.4.7 QUEUE.Expired; message expired', [], { fqdn: mxOf(k.recipientDomain), ip: row.toIP })];
    const mx = mxOf(k.recipientDomain);
    const remote = (led: string, msg: string): Thunk[] => [k.sendExternal, k.fail(led, [['IsSmtpResponseFromExternalServer', 'String', 'True']], { msg, fqdn: mx, ip: row.toIP })];
    switch (rng.weighted({ remoteUnknown: 3, rule: 2, loop: 1, spf: 1, remoteFull: 1 })) {
      case 'remoteUnknown': return remote(`550 5.1.1 <${row.recipientAddress}>: Recipient address rejected: User unknown in virtual mailbox table`, '550 5.1.1 User unknown');
      case 'rule': return ruleReject();
      case 'loop': return [k.fail(`554 5.4.14 Hop count exceeded - possible mail loop ATTR34 [${k.mailbox}]`)];
      case 'spf': return remote('550 5.7.23 The message was rejected because of Sender Policy Framework violation', '550 5.7.23 SPF fail');
      default: return remote('552 5.2.2 mailbox full; Quota exceeded', '552 5.2.2 Mailbox full');
    }
  }
  const full = '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception';
  // A pending row (deferred: recipient thread limit) that turned failed: the mailbox stayed over quota.
  if (k.transient === 'pending') return [k.fail(full)];
  if (row.direction === 'inbound') {
    switch (rng.weighted({ notFound: 4, rule: 2, group: 1, dmarc: 1, full: 1 })) {
      case 'notFound': return [k.fail('550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup')];
      case 'rule': return ruleReject();
      case 'group': return [k.fail('550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; Delivery restriction check failed as sender not authenticated')];
      case 'dmarc': return [k.fail(`550 5.7.509 Access denied, sending domain ${k.senderDomain.toUpperCase()} does not pass DMARC verification and has a DMARC policy of reject.`)];
      default: return [k.fail(full)];
    }
  }
  switch (rng.weighted({ notFound: 2, rule: 2, full: 2, restricted: 1 })) {
    case 'notFound': return [k.fail('550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup')];
    case 'rule': return ruleReject();
    case 'full': return [k.fail(full)];
    default: return [k.fail('550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized')];
  }
}
