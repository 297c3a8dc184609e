/**
 * Privacy controls per destination: drop or hash chosen fields of the row before it is formatted.
 * Hashing is HMAC-SHA256 with a secret key when one is configured (recommended: without a key, a
 * hash of an address can be reversed by hashing candidate addresses), else SHA-256; the value is
 * the first 32 hex characters. `senderLocalPart` / `recipientLocalPart` hash only the part before
 * the @, so the domain stays readable (and direction keeps working).
 * The eventId is computed before privacy is applied, so it does not change.
 *
 * Detail events: their `row` (the trace row they explain) gets the same rules, and so does what the
 * detail itself carries. `detail.messageId` follows the `messageId` rule; the free text of
 * `detail.description` and `detail.data` (an NDR quotes the recipient, a Receive step the client IP,
 * a group expansion the group's address) is scrubbed: an address that is the row's sender or
 * recipient becomes what the row's field became (the same pseudonym, so a detail still matches its
 * row, or `[redacted]` when the field is dropped); any other address gets the strictest address rule
 * set (drop, else hash, else local-part hash), because it may be either party's. IP addresses are
 * treated the same way under the `fromIP` / `toIP` rules, and the row's subject and Message-ID under
 * theirs, wherever the text repeats them. The scrub is a linear scan, so a huge `data` costs time in
 * proportion, never more.
 */
import { createHash, createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { isDetailEvent, type MessageTraceDetail, type MessageTraceRow, type TraceEvent } from '../model/row';

export const PRIVACY_DROP_FIELDS = ['subject', 'senderAddress', 'recipientAddress', 'fromIP', 'toIP', 'messageId'] as const;
export const PRIVACY_HASH_FIELDS = [...PRIVACY_DROP_FIELDS, 'senderLocalPart', 'recipientLocalPart'] as const;
export type PrivacyDropField = (typeof PRIVACY_DROP_FIELDS)[number];
export type PrivacyHashField = (typeof PRIVACY_HASH_FIELDS)[number];

export interface PrivacyRules {
  drop: PrivacyDropField[];
  hash: PrivacyHashField[];
}

export const NO_PRIVACY_RULES: PrivacyRules = { drop: [], hash: [] };

export function hasPrivacyRules(rules: PrivacyRules): boolean {
  return rules.drop.length > 0 || rules.hash.length > 0;
}

export function pseudonym(value: string, key: string | undefined): string {
  const h = key ? createHmac('sha256', key) : createHash('sha256');
  return h.update(value, 'utf8').digest('hex').slice(0, 32);
}

function hashLocalPart(address: unknown, key: string | undefined): unknown {
  if (typeof address !== 'string' || !address) return address;
  const at = address.lastIndexOf('@');
  if (at < 0) return pseudonym(address.toLowerCase(), key);
  return `${pseudonym(address.slice(0, at).toLowerCase(), key)}@${address.slice(at + 1)}`;
}

/**
 * The event with the rules applied to its row (and, for a detail event, to its detail). With any
 * rule set, the legacy `raw` record (which repeats the same fields under other names) is left out.
 */
export function applyPrivacy(event: TraceEvent, rules: PrivacyRules, key?: string): TraceEvent {
  if (!hasPrivacyRules(rules)) return event;
  const row: MessageTraceRow = { ...event.row };
  for (const f of rules.hash) {
    if (f === 'senderLocalPart') row.senderAddress = hashLocalPart(row.senderAddress, key) as string | undefined;
    else if (f === 'recipientLocalPart') row.recipientAddress = hashLocalPart(row.recipientAddress, key) as string;
    else {
      const v = row[f];
      if (typeof v === 'string' && v !== '') {
        const norm = f === 'senderAddress' || f === 'recipientAddress' ? v.toLowerCase() : v;
        (row as Record<string, unknown>)[f] = pseudonym(norm, key);
      }
    }
  }
  for (const f of rules.drop) delete (row as Record<string, unknown>)[f];
  const { raw: _raw, ...rest } = event;
  void _raw;
  if (!isDetailEvent(event)) return { ...rest, row } as TraceEvent;
  return { ...rest, row, detail: scrubDetail(event.detail, event.row, row, rules, key) } as TraceEvent;
}

/** What a value of a field becomes in free text: its row value after the rules, or the strictest rule's result. */
type Replace = (found: string) => string | undefined;

export const REDACTED = '[redacted]';

function modeOf(rules: PrivacyRules, field: 'senderAddress' | 'recipientAddress' | 'fromIP' | 'toIP'): 'drop' | 'hash' | 'local' | undefined {
  if (rules.drop.includes(field)) return 'drop';
  if (rules.hash.includes(field)) return 'hash';
  if (field === 'senderAddress' && rules.hash.includes('senderLocalPart')) return 'local';
  if (field === 'recipientAddress' && rules.hash.includes('recipientLocalPart')) return 'local';
  return undefined;
}

const STRICTNESS = { drop: 3, hash: 2, local: 1 } as const;
function strictest(...modes: ('drop' | 'hash' | 'local' | undefined)[]): 'drop' | 'hash' | 'local' | undefined {
  let best: 'drop' | 'hash' | 'local' | undefined;
  for (const m of modes) if (m && (!best || STRICTNESS[m] > STRICTNESS[best])) best = m;
  return best;
}

function applyMode(mode: 'drop' | 'hash' | 'local', value: string, key: string | undefined, lower: boolean): string {
  if (mode === 'drop') return REDACTED;
  if (mode === 'local') return hashLocalPart(value, key) as string;
  return pseudonym(lower ? value.toLowerCase() : value, key);
}

function scrubDetail(detail: MessageTraceDetail, original: MessageTraceRow, scrubbed: MessageTraceRow, rules: PrivacyRules, key: string | undefined): MessageTraceDetail {
  const out: MessageTraceDetail = { ...detail };
  const sender = modeOf(rules, 'senderAddress');
  const recipient = modeOf(rules, 'recipientAddress');
  const other = strictest(sender, recipient);
  const same = (a: unknown, b: string) => typeof a === 'string' && a !== '' && a.toLowerCase() === b.toLowerCase();
  const address: Replace | undefined = other ? (found) => {
    if (sender && same(original.senderAddress, found)) return typeof scrubbed.senderAddress === 'string' ? scrubbed.senderAddress : REDACTED;
    if (recipient && same(original.recipientAddress, found)) return typeof scrubbed.recipientAddress === 'string' ? scrubbed.recipientAddress : REDACTED;
    if (same(original.senderAddress, found) || same(original.recipientAddress, found)) return undefined; // that party has no rule
    return applyMode(other, found, key, true);
  } : undefined;
  const from = modeOf(rules, 'fromIP');
  const to = modeOf(rules, 'toIP');
  const otherIp = strictest(from, to);
  const ip: Replace | undefined = otherIp ? (found) => {
    if (from && original.fromIP === found) return typeof scrubbed.fromIP === 'string' ? scrubbed.fromIP : REDACTED;
    if (to && original.toIP === found) return typeof scrubbed.toIP === 'string' ? scrubbed.toIP : REDACTED;
    if (original.fromIP === found || original.toIP === found) return undefined;
    return applyMode(otherIp, found, key, false);
  } : undefined;
  const literals: [string, string][] = [];
  for (const f of ['subject', 'messageId'] as const) {
    const v = original[f];
    if (typeof v !== 'string' || v.length < 3 || (!rules.drop.includes(f) && !rules.hash.includes(f))) continue;
    const becomes = typeof scrubbed[f] === 'string' ? (scrubbed[f] as string) : REDACTED;
    literals.push([v, becomes], [xmlEscape(v), xmlEscape(becomes)]);
  }
  const scrub = (t: string): string => {
    let s = t;
    for (const [v, becomes] of literals) if (s.includes(v)) s = s.split(v).join(becomes);
    if (address) s = replaceAddresses(s, address);
    if (ip) s = replaceIps(s, ip);
    return s;
  };
  if (typeof out.description === 'string') out.description = scrub(out.description);
  if (typeof out.data === 'string') out.data = scrub(out.data);
  if (typeof out.messageId === 'string' && out.messageId !== '') {
    if (rules.drop.includes('messageId')) delete out.messageId;
    else if (rules.hash.includes('messageId')) out.messageId = pseudonym(out.messageId, key);
  }
  return out;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const LOCAL_CHAR = /[A-Za-z0-9._%+'-]/;
const DOMAIN_CHAR = /[A-Za-z0-9.-]/;

/**
 * Every e-mail address in `text` passed through `replace` (undefined keeps it). A manual scan from
 * each "@" (local part at most 64 characters back, domain at most 255 forward), so it is linear.
 */
export function replaceAddresses(text: string, replace: Replace): string {
  let out = '';
  let last = 0;
  let at = text.indexOf('@');
  while (at >= 0) {
    let start = at;
    while (start > last && at - start < 64 && LOCAL_CHAR.test(text[start - 1]!)) start--;
    let end = at + 1;
    while (end < text.length && end - at <= 255 && DOMAIN_CHAR.test(text[end]!)) end++;
    while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
    while (start < at && text[start] === '.') start++;
    const domain = text.slice(at + 1, end);
    const found = text.slice(start, end);
    const isAddress = start < at && /\.[A-Za-z]{2,}$/.test(domain) && !domain.includes('..');
    const replacement = isAddress ? replace(found) : undefined;
    if (replacement !== undefined) {
      out += text.slice(last, start) + replacement;
      last = end;
    }
    at = text.indexOf('@', Math.max(end, at + 1));
  }
  return last === 0 ? text : out + text.slice(last);
}

const IPV4 = /(?<![0-9.])\d{1,3}(?:\.\d{1,3}){3}(?![0-9]|\.\d)/g;
const IPV6_CANDIDATE = /[0-9A-Fa-f:]{3,45}/g;

/** Every IPv4 and IPv6 address in `text` passed through `replace` (undefined keeps it); linear. */
export function replaceIps(text: string, replace: Replace): string {
  const sub = (s: string, re: RegExp, valid: (x: string) => boolean) => s.replace(re, (found) => {
    if (!valid(found)) return found;
    return replace(found) ?? found;
  });
  const v4 = sub(text, IPV4, isIPv4);
  return sub(v4, IPV6_CANDIDATE, (x) => x.split(':').length > 2 && isIPv6(x));
}
