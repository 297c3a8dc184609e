/**
 * The facts of one getDetailsByRecipient event (reference B.6), read from its event name, its
 * description and its XML `data` blob, for the formats that have fields for them (ECS rule.*, OCSF
 * disposition, Sentinel columns, UDM security_result).
 *
 * `data` is a flat list of elements, `<root><MEP Name="SCL" Integer="9" /><MEP Name="CustomData"
 * Blob="S:SFA=SUM|SFV=SPM|SCL=9|…;S:TRA=ETR|ruleId=…|action=…" />…</root>`: a name and one typed value
 * (String, Integer, Long, Blob, Double, Bool, DateTime). It is read by a bounded tokenizer of that
 * shape, not an XML parser: a truncated or malformed blob still gives the facts before the damage,
 * the work is linear in at most DETAIL_LIMITS.scanChars characters, and nothing here throws. The raw
 * `data` string is never changed here; every format keeps it whole.
 *
 * What is read (Microsoft Learn, "Message trace in the modern EAC", custom_data; lab shapes of the
 * Graph API, see docs/siem/README.md):
 * - SMTP status of Fail, Defer and Drop: `Reason: [{LED=550 5.1.10 RESOLVER.ADR.RecipientNotFound; …};{MSG=};{FQDN=};{IP=};{LRT=}]`
 *   in the description, or the RecipientStatus element;
 * - transport and DLP rules: `Transport rule: 'Name', ID: ('guid')…` / `DLP rule: 'Name', ID: ('guid'), DLP policy: 'Name', ID: (guid)`,
 *   and the transport rule agent's `S:TRA=ETR|ruleId=…|action=…|mode=…`;
 * - the spam filter: SCL, SFV, DI (the spam action: SQ quarantine, SJ junk folder, SD deleted, SB blocked, SN/SO normal), CAT
 *   (spam category), as elements or in the spam filter agent's `S:SFA=SUM|SFV=…|SCL=…|DI=…`;
 *   `Spam confidence level: 8` in the description;
 * - malware names of the malware filter agent (`S:AMA=EV|…|name=…`);
 * - the Exchange server (ServerHostName, MailboxServer, `Message received by: …`), the component
 *   (SourceContext), the mailbox folder of a Deliver event.
 */
import type { MessageTraceDetail } from '../model/row';

/**
 * Bounds of the reading, each above ten times a realistic worst case (a blob is usually 1-4 KB with
 * 5-20 elements; a long CustomData of the spam filter a few KB; a description under 2 KB).
 */
export const DETAIL_LIMITS = {
  /** Characters of `data` the tokenizer reads; the rest is kept in the record but not read. */
  scanChars: 1024 * 1024,
  /** Elements of `data` read. */
  elements: 1024,
  /** Characters of one element value kept for reading. */
  valueChars: 64 * 1024,
  /** Characters of the description read. */
  descriptionChars: 32 * 1024,
  /** Parts of one CustomData value read. */
  customDataParts: 256,
  /** Characters of a reason (SMTP response) kept. */
  reasonChars: 2048,
} as const;

export type DetailKind =
  | 'receive' | 'submit' | 'send' | 'deliver' | 'fail' | 'defer' | 'drop' | 'expand' | 'redirect'
  | 'transport-rule' | 'dlp-rule' | 'spam' | 'malware' | 'quarantine' | 'other';

/** The kind of a detail event from its event name (case and spacing as the API writes them vary). */
export function detailKind(event: unknown): DetailKind {
  const e = typeof event === 'string' ? event.trim().toLowerCase() : '';
  if (e.startsWith('receive')) return 'receive';
  if (e.startsWith('submit')) return 'submit';
  if (e.startsWith('send')) return 'send';
  if (e.startsWith('deliver')) return 'deliver';
  if (e.startsWith('fail') || e.includes('badmail') || e.includes('poison')) return 'fail';
  if (e.startsWith('defer')) return 'defer';
  if (e.startsWith('drop')) return 'drop';
  if (e.startsWith('expand')) return 'expand';
  if (e.startsWith('resolve') || e.startsWith('redirect')) return 'redirect';
  if (e.includes('dlp')) return 'dlp-rule';
  if (e.includes('transport rule') || e.includes('mail flow rule') || e === 'etr') return 'transport-rule';
  if (e.includes('spam')) return 'spam';
  if (e.includes('malware')) return 'malware';
  if (e.startsWith('quarantine')) return 'quarantine';
  return 'other';
}

/** The spam filter's DI values (Microsoft Learn, custom_data of the spam filter agent). */
export const SPAM_ACTIONS: Readonly<Record<string, string>> = {
  SB: 'Blocked', SQ: 'Quarantined', SD: 'Deleted', SJ: 'Junk Email folder', SN: 'Normal delivery', SO: 'High risk delivery pool',
};

export interface DetailFacts {
  kind: DetailKind;
  /** Spam confidence level, -1 to 9. */
  scl?: number;
  /** Spam filter verdict (SFV), e.g. SPM, NSPM, BLK, SKS. */
  sfv?: string;
  /** Spam category (CAT), e.g. HPHISH, PHSH, SPM, BULK, MALW. */
  spamCategory?: string;
  /** The spam filter's action (DI), e.g. SQ, SJ. */
  spamAction?: string;
  /** Transport or DLP rule that matched. */
  ruleName?: string;
  ruleId?: string;
  /** The DLP policy of a DLP rule. */
  rulePolicyName?: string;
  rulePolicyId?: string;
  /** What the rule did (RejectMessage, Quarantine, BA, …). */
  ruleAction?: string;
  ruleMode?: string;
  /** SMTP reply code, e.g. "550". */
  smtpCode?: string;
  /** Enhanced status code (RFC 3463), e.g. "5.1.10". */
  enhancedStatus?: string;
  /** The reason from its code on, e.g. "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup". */
  smtpResponse?: string;
  /** The remote server of an outbound failure or delay. */
  remoteHost?: string;
  remoteIp?: string;
  /** The Exchange Online server that handled the step. */
  server?: string;
  /** The transport component (SourceContext), e.g. "Transport Rule Agent". */
  component?: string;
  /** The mailbox folder of a Deliver event: Inbox, Junk Email, Quarantine, … */
  folder?: string;
  malwareName?: string;
  /** The connecting client's IP (ClientIP or CIP). */
  clientIp?: string;
  /** `data` is longer than DETAIL_LIMITS.scanChars, or has more elements or longer values than read. */
  dataTruncated?: boolean;
  /** `data` is not the `<root><MEP …/></root>` shape (facts before the damage were read). */
  dataMalformed?: boolean;
}

export interface MepElement { name: string; type: string; value: string }

const ENTITY = /&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|amp|lt|gt|quot|apos);/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character and entity references decoded; an invalid one is left as written. */
export function decodeXmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (whole, ref: string) => {
    if (ref[0] !== '#') return NAMED[ref] ?? whole;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return Number.isInteger(code) && code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : whole;
  });
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_:.-]/.test(c);
const MEP_START = /<MEP(?=[\s/>])/gi;

/**
 * The MEP elements of a data blob, in order, with their values decoded. Linear in the characters
 * read; stops at the first element it cannot finish (an unterminated quote), keeping what it has.
 */
export function mepElements(data: unknown): { elements: MepElement[]; truncated: boolean; malformed: boolean } {
  if (typeof data !== 'string' || data === '') return { elements: [], truncated: false, malformed: false };
  const text = data.length > DETAIL_LIMITS.scanChars ? data.slice(0, DETAIL_LIMITS.scanChars) : data;
  let truncated = data.length > DETAIL_LIMITS.scanChars;
  let malformed = !/^\s*(<\?xml[^>]*\?>\s*)?<root[\s/>]/i.test(text) || (!truncated && !/<\/root>\s*$/i.test(text) && !/<root\s*\/>\s*$/i.test(text));
  const elements: MepElement[] = [];
  const re = new RegExp(MEP_START.source, MEP_START.flags);
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (elements.length >= DETAIL_LIMITS.elements) {
      truncated = true;
      break;
    }
    let i = m.index + m[0].length;
    const attrs: [string, string][] = [];
    let closed = false;
    while (i < text.length && attrs.length < 16) {
      while (isSpace(text[i])) i++;
      if (text[i] === '/' || text[i] === '>') {
        closed = true;
        break;
      }
      const nameStart = i;
      while (isNameChar(text[i])) i++;
      if (i === nameStart) break; // not an attribute: damaged element
      const name = text.slice(nameStart, i);
      while (isSpace(text[i])) i++;
      if (text[i] !== '=') break;
      i++;
      while (isSpace(text[i])) i++;
      const quote = text[i];
      if (quote !== '"' && quote !== "'") break;
      const end = text.indexOf(quote, i + 1);
      if (end < 0) {
        // An unterminated value (a truncated blob): not a value; stop reading there.
        malformed = true;
        i = text.length;
        break;
      }
      let value = text.slice(i + 1, end);
      if (value.length > DETAIL_LIMITS.valueChars) {
        value = value.slice(0, DETAIL_LIMITS.valueChars);
        truncated = true;
      }
      attrs.push([name, value]);
      i = end + 1;
    }
    if (!closed) malformed = true;
    const nameAttr = attrs.find(([k]) => k.toLowerCase() === 'name');
    const valueAttr = attrs.find(([k]) => k.toLowerCase() !== 'name');
    if (nameAttr) elements.push({ name: decodeXmlText(nameAttr[1]), type: valueAttr?.[0] ?? '', value: decodeXmlText(valueAttr?.[1] ?? '') });
    if (i >= text.length) break;
    re.lastIndex = Math.max(i, m.index + m[0].length);
  }
  return { elements, truncated, malformed };
}

/** One agent entry of a CustomData value: `S:SFA=SUM|SFV=SPM|SCL=9` -> agent SFA, type SUM, fields. */
interface CustomDataEntry { agent: string; type: string; fields: [string, string][] }

/** CustomData split into agent entries (`;` separates entries outside single quotes, `|` separates fields). */
export function customDataEntries(value: string): CustomDataEntry[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length && parts.length < DETAIL_LIMITS.customDataParts; i++) {
    const c = value[i]!;
    if (c === "'") quoted = !quoted;
    else if (c === ';' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur && parts.length < DETAIL_LIMITS.customDataParts) parts.push(cur);
  const out: CustomDataEntry[] = [];
  for (const raw of parts) {
    const p = raw.trim().replace(/^[A-Za-z]:/, '');
    if (!p) continue;
    const segments = p.split('|');
    const kv = (s: string): [string, string] => {
      const eq = s.indexOf('=');
      return eq < 0 ? [s.trim(), ''] : [s.slice(0, eq).trim(), s.slice(eq + 1).trim()];
    };
    const [agent, type] = kv(segments[0]!);
    out.push({ agent: agent.toUpperCase(), type, fields: segments.slice(1).map(kv) });
  }
  return out;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const isUsefulGuid = (v: string | undefined) => !!v && GUID.test(v) && !/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(v);

function sclOf(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d{1,2}\s*$/.test(v) ? Number(v) : Number.NaN;
  return Number.isInteger(n) && n >= -1 && n <= 9 ? n : undefined;
}

const RULE = /\b(Transport|DLP|Mail flow) rule:\s*'([^']*)'\s*,\s*ID:\s*\(\s*'?([0-9A-Fa-f-]{36})?'?\s*\)/i;
const POLICY = /\bDLP policy:\s*'([^']*)'\s*,\s*ID:\s*\(\s*'?([0-9A-Fa-f-]{36})?'?\s*\)/i;
const CODE_PAIR = /\b([245]\d{2})[ -]+([245]\.\d{1,3}\.\d{1,3})\b/;
const CODE_ENHANCED = /(?:^|[\s[{=;:])([245]\.\d{1,3}\.\d{1,3})(?=$|[\s;,.\]}])/;
const CODE_REPLY = /^(?:Reason:\s*)?[[{\s]*(?:LED=)?([245]\d{2})(?=\s|$)/;

/** The SMTP status of a reason text (the LED segment when there is one), or nothing when it has no code. */
export function smtpStatusOf(reason: string): Pick<DetailFacts, 'smtpCode' | 'enhancedStatus' | 'smtpResponse' | 'remoteHost' | 'remoteIp'> {
  const s = reason.slice(0, DETAIL_LIMITS.descriptionChars);
  const led = s.indexOf('LED=');
  let segment = s;
  if (led >= 0) {
    const rest = s.slice(led + 4);
    const end = rest.search(/\};\{|\}\]|\};?$/);
    segment = end >= 0 ? rest.slice(0, end) : rest;
  }
  const pair = CODE_PAIR.exec(segment);
  const enhanced = pair ? undefined : CODE_ENHANCED.exec(segment);
  const reply = pair || enhanced ? undefined : CODE_REPLY.exec(segment);
  const at = pair?.index ?? (enhanced ? enhanced.index + enhanced[0].indexOf(enhanced[1]!) : reply ? segment.indexOf(reply[1]!) : -1);
  if (at < 0) return {};
  const out: ReturnType<typeof smtpStatusOf> = {};
  if (pair) {
    out.smtpCode = pair[1]!;
    out.enhancedStatus = pair[2]!;
  } else if (enhanced) out.enhancedStatus = enhanced[1]!;
  else if (reply) out.smtpCode = reply[1]!;
  const response = segment.slice(at).trim();
  if (response) out.smtpResponse = response.slice(0, DETAIL_LIMITS.reasonChars);
  const fqdn = /\{FQDN=([^}]*)\}/.exec(s)?.[1]?.trim() || /\[LastAttemptedServerName=([^\]]*)\]/.exec(s)?.[1]?.trim();
  const ip = /\{IP=([^}]*)\}/.exec(s)?.[1]?.trim() || /\[LastAttempted(?:Server)?IP=([^\]]*)\]/.exec(s)?.[1]?.trim();
  if (fqdn) out.remoteHost = fqdn;
  if (ip) out.remoteIp = ip.replace(/^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/, '$1').replace(/^\[([0-9a-fA-F:.]+)\]:\d+$/, '$1');
  return out;
}

function folderOf(s: string | undefined): string | undefined {
  if (!s) return undefined;
  if (/quarantine/i.test(s)) return 'Quarantine';
  if (/junk/i.test(s)) return 'Junk Email';
  const m = /folder:\s*(?:DefaultFolderType:)?([^.;]+)/i.exec(s) ?? /DefaultFolderType:([A-Za-z]+)/i.exec(s);
  return m ? m[1]!.trim().replace(/([a-z])([A-Z])/g, '$1 $2') : undefined;
}

/** Every fact of one detail; never throws, whatever the detail holds. */
export function detailFacts(detail: MessageTraceDetail | undefined): DetailFacts {
  const d = (detail && typeof detail === 'object' ? detail : {}) as Partial<MessageTraceDetail>;
  const facts: DetailFacts = { kind: detailKind(d.event) };
  const description = (text(d.description) ?? '').slice(0, DETAIL_LIMITS.descriptionChars);
  const { elements, truncated, malformed } = mepElements(d.data);
  if (truncated) facts.dataTruncated = true;
  if (malformed) facts.dataMalformed = true;
  const element = (name: string): string | undefined => text(elements.find((e) => e.name.toLowerCase() === name.toLowerCase())?.value);

  // The spam filter, as elements.
  facts.scl = sclOf(element('SCL'));
  const set = (k: 'sfv' | 'spamCategory' | 'spamAction', v: string | undefined) => { if (v && !facts[k]) facts[k] = v.toUpperCase(); };
  set('sfv', element('SFV'));
  set('spamCategory', element('CAT'));
  set('spamAction', element('DI'));

  // CustomData: the spam filter, transport rule and malware filter agents.
  for (const e of elements) {
    if (e.name.toLowerCase() !== 'customdata') continue;
    for (const entry of customDataEntries(e.value)) {
      const field = (k: string) => text(entry.fields.find(([n]) => n.toLowerCase() === k)?.[1]);
      if (entry.agent === 'SFA') {
        facts.scl ??= sclOf(field('scl'));
        set('sfv', field('sfv'));
        set('spamCategory', field('cat'));
        set('spamAction', field('di'));
      } else if (entry.agent === 'TRA' && entry.type.toUpperCase() === 'ETR') {
        const id = field('ruleid');
        if (id && !facts.ruleId) facts.ruleId = id.toLowerCase();
        facts.ruleAction ??= field('action');
        facts.ruleMode ??= field('mode');
        const dlp = field('dlpid');
        if (dlp && !facts.rulePolicyId) facts.rulePolicyId = dlp.toLowerCase();
      } else if (entry.agent === 'AMA') {
        facts.malwareName ??= field('name');
      }
    }
  }
  const inText = /Spam confidence level:\s*(-?\d{1,2})\b/i.exec(description);
  if (facts.scl === undefined && inText) facts.scl = sclOf(inText[1]);

  // Rules named in the description.
  const rule = RULE.exec(description);
  if (rule) {
    if (text(rule[2])) facts.ruleName = rule[2]!.trim();
    if (isUsefulGuid(rule[3])) facts.ruleId = rule[3]!.toLowerCase();
  }
  const policy = POLICY.exec(description);
  if (policy) {
    if (text(policy[1])) facts.rulePolicyName = policy[1]!.trim();
    if (isUsefulGuid(policy[2])) facts.rulePolicyId = policy[2]!.toLowerCase();
  }
  if ((facts.kind === 'transport-rule' || facts.kind === 'dlp-rule') && !facts.ruleAction) {
    const action = text(d.action);
    if (action) facts.ruleAction = action;
  }

  // The SMTP status: the description, else the RecipientStatus element.
  const status = smtpStatusOf(description);
  const fromElement = status.enhancedStatus || status.smtpCode ? {} : smtpStatusOf(element('RecipientStatus') ?? '');
  Object.assign(facts, fromElement, status);

  const server = element('ServerHostName') ?? element('MailboxServer') ?? /^Message received by:\s*([^\s;,]+)/i.exec(description)?.[1];
  if (server) facts.server = server;
  const component = element('SourceContext');
  if (component && !component.includes(';') && !/^(unknown|catcleanup)$/i.test(component)) facts.component = component;
  if (facts.kind === 'deliver' || facts.kind === 'quarantine') {
    const folder = folderOf(/folder:/i.test(description) ? description : undefined) ?? folderOf(element('RecipientStatus')) ?? (facts.kind === 'quarantine' ? 'Quarantine' : undefined);
    if (folder) facts.folder = folder;
  }
  const clientIp = element('ClientIP') ?? element('CIP');
  if (clientIp) facts.clientIp = clientIp;
  for (const k of Object.keys(facts) as (keyof DetailFacts)[]) if (facts[k] === undefined) delete facts[k];
  return facts;
}

/** A verdict of a security control in a detail (spam filter, malware filter, transport or DLP rule). */
export type ControlVerdict = 'allowed' | 'blocked' | 'quarantined' | 'deleted' | 'junk' | 'modified' | 'detected';

/**
 * What a control decided, when the detail is a control's step: the spam action (DI), else the spam
 * verdict (SFV), else the rule's action, else the event's action. Undefined for routing steps.
 */
export function controlVerdict(facts: DetailFacts, action?: unknown): ControlVerdict | undefined {
  const k = facts.kind;
  if (k !== 'spam' && k !== 'malware' && k !== 'transport-rule' && k !== 'dlp-rule' && k !== 'quarantine') return undefined;
  if (k === 'quarantine') return 'quarantined';
  const act = `${facts.ruleAction ?? ''} ${typeof action === 'string' ? action : ''}`.toLowerCase();
  if (k === 'spam') {
    const di = facts.spamAction;
    if (di === 'SQ' || act.includes('quarantine')) return 'quarantined';
    if (di === 'SJ' || act.includes('junk')) return 'junk';
    if (di === 'SD' || act.includes('delete')) return 'deleted';
    if (di === 'SB' || act.includes('reject') || act.includes('block')) return 'blocked';
    if (di === 'SN' || di === 'SO' || ['NSPM', 'SKA', 'SFE', 'SKI', 'SKN', 'SKQ'].includes(facts.sfv ?? '')) return 'allowed';
    return 'detected';
  }
  if (k === 'malware') {
    if (act.includes('quarantine')) return 'quarantined';
    if (act.includes('delete')) return 'deleted';
    return 'blocked';
  }
  if (act.includes('quarantine')) return 'quarantined';
  if (act.includes('delete')) return 'deleted';
  if (/\b(ba|block\w*|reject\w*)\b/.test(act)) return 'blocked';
  if (act.includes('allow')) return 'allowed';
  // Notifications, reports and audits leave the message as it was.
  if (!act.trim() || /notify|report|alert|audit|incident/.test(act)) return 'detected';
  return 'modified';
}

/** Phishing, malware or spam from the spam category (CAT) and verdict, as the threat category of a detail. */
export function threatCategoryOf(facts: DetailFacts): 'phishing' | 'malware' | 'spam' | 'spoofing' | 'bulk' | undefined {
  const cat = facts.spamCategory;
  if (cat === 'HPHISH' || cat === 'PHSH' || cat === 'HPHSH') return 'phishing';
  if (cat === 'MALW' || facts.kind === 'malware') return 'malware';
  if (cat === 'SPOOF' || cat === 'DIMP' || cat === 'GIMP' || cat === 'UIMP') return 'spoofing';
  if (cat === 'BULK') return 'bulk';
  if (cat === 'SPM' || cat === 'HSPM' || cat === 'OSPM' || facts.sfv === 'SPM') return 'spam';
  return undefined;
}
