/**
 * Privacy controls per destination: drop or hash chosen fields of the row before it is formatted.
 * Hashing is HMAC-SHA256 with a secret key when one is configured (recommended: without a key, a
 * hash of an address can be reversed by hashing candidate addresses), else SHA-256; the value is
 * the first 32 hex characters. `senderLocalPart` / `recipientLocalPart` hash only the part before
 * the @, so the domain stays readable (and direction keeps working).
 * The eventId is computed before privacy is applied, so it does not change.
 */
import { createHash, createHmac } from 'node:crypto';
import type { MessageTraceRow, TraceEvent } from '../model/row';

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
 * The event with the rules applied to its row. With any rule set, the legacy `raw` record (which
 * repeats the same fields under other names) is left out.
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
  return { ...rest, row } as TraceEvent;
}
