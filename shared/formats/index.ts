/**
 * Output formats, chosen per destination: `raw` (the event envelope, unchanged), `ecs`, `ocsf`
 * (Email Activity 4009), `sentinel` (flat columns) and `o365-messagetrace` (the legacy report's
 * record, which the SIEM vendors' own message trace parsers read). Privacy rules run first, on the row, so every
 * format sees the same dropped or hashed values. Mapping tables: docs/destinations.md.
 */
import type { TraceEvent } from '../model/row';
import { toEcs } from './ecs';
import { toMessageTrace } from './messagetrace';
import { toOcsf } from './ocsf';
import { applyPrivacy, type PrivacyRules } from './privacy';
import { toSentinel } from './sentinel';

export const FORMAT_NAMES = ['raw', 'ecs', 'ocsf', 'sentinel', 'o365-messagetrace'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

export interface FormatOptions {
  format: FormatName;
  /** The tenant's accepted domains, lowercased, for mail direction. */
  acceptedDomains: readonly string[];
  /** Per source id, domains that win over `acceptedDomains` for that source's events (one tenant each). */
  acceptedDomainsBySource?: Readonly<Record<string, readonly string[]>>;
  privacy: PrivacyRules;
}

/** A formatted record: what a destination puts on the wire (inside its own envelope). */
export type FormattedRecord = Record<string, unknown>;

export type Formatter = (event: TraceEvent) => FormattedRecord;

/** Builds the formatter of a destination; `hashKey` is the resolved privacy hash key, if any. */
export function createFormatter(options: FormatOptions, hashKey?: string): Formatter {
  const lower = (list: readonly string[]) => list.map((d) => d.toLowerCase());
  const domains = lower(options.acceptedDomains);
  const bySource = new Map(Object.entries(options.acceptedDomainsBySource ?? {}).map(([id, list]) => [id, lower(list)]));
  const domainsOf = (e: TraceEvent) => bySource.get(e.sourceId) ?? domains;
  const map: (e: TraceEvent) => FormattedRecord =
    options.format === 'ecs' ? (e) => toEcs(e, domainsOf(e))
    : options.format === 'ocsf' ? (e) => toOcsf(e, domainsOf(e))
    : options.format === 'sentinel' ? (e) => toSentinel(e, domainsOf(e))
    : options.format === 'o365-messagetrace' ? (e) => toMessageTrace(e)
    : (e) => e;
  return (event) => map(applyPrivacy(event, options.privacy, hashKey));
}

export { mailDirection, domainOf, type MailDirection } from './direction';
export { applyPrivacy, PRIVACY_DROP_FIELDS, PRIVACY_HASH_FIELDS, type PrivacyRules } from './privacy';
export { SENTINEL_COLUMNS } from './sentinel';
export { MESSAGETRACE_FIELDS, reportStatus, toMessageTrace } from './messagetrace';
