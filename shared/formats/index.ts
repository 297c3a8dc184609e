/**
 * Output formats, chosen per destination: `raw` (the event envelope, unchanged), `ecs`, `ocsf`
 * (Email Activity 4009), `sentinel` (flat columns) and `o365-messagetrace` (the legacy report's
 * record, which the SIEM vendors' own message trace parsers read). Privacy rules run first, on the row
 * (and a detail event's detail), so every format sees the same dropped or hashed values. Every format
 * maps both kinds of event: trace rows and detail events (one getDetailsByRecipient event each, read by
 * ./detail.ts). Mapping tables: docs/destinations.md. Each format is a folder (format.ts, README.md)
 * registered by one line in ./registry.ts.
 */
import type { TraceEvent } from '../model/row';
import { applyPrivacy, type PrivacyRules } from './privacy';
import { formatSpec, type FormatName } from './registry';
import type { FormattedRecord } from './spec';

export { FORMAT_NAMES, FORMATS, type FormatName } from './registry';
export type { FormattedRecord, FormatSpec } from './spec';

export interface FormatOptions {
  format: FormatName;
  /** The tenant's accepted domains, lowercased, for mail direction. */
  acceptedDomains: readonly string[];
  /** Per source id, domains that win over `acceptedDomains` for that source's events (one tenant each). */
  acceptedDomainsBySource?: Readonly<Record<string, readonly string[]>>;
  privacy: PrivacyRules;
}

export type Formatter = (event: TraceEvent) => FormattedRecord;

/** Builds the formatter of a destination; `hashKey` is the resolved privacy hash key, if any. */
export function createFormatter(options: FormatOptions, hashKey?: string): Formatter {
  const lower = (list: readonly string[]) => list.map((d) => d.toLowerCase());
  const domains = lower(options.acceptedDomains);
  const bySource = new Map(Object.entries(options.acceptedDomainsBySource ?? {}).map(([id, list]) => [id, lower(list)]));
  const domainsOf = (e: TraceEvent) => bySource.get(e.sourceId) ?? domains;
  const spec = formatSpec(options.format);
  return (event) => {
    const e = applyPrivacy(event, options.privacy, hashKey);
    return spec.map(e, domainsOf(e));
  };
}

export { mailDirection, domainOf, type MailDirection } from './direction';
export { applyPrivacy, PRIVACY_DROP_FIELDS, PRIVACY_HASH_FIELDS, type PrivacyRules } from './privacy';
export { SENTINEL_COLUMNS, SENTINEL_DETAIL_COLUMNS } from './sentinel/format';
export { MESSAGETRACE_FIELDS, MESSAGETRACEDETAIL_FIELDS, reportStatus, toMessageTrace, toMessageTraceDetail } from './o365-messagetrace/format';
export { ECS_DATASET, ECS_DETAIL_DATASET } from './ecs/format';
export { eventKindOf, eventTimeMs, runsBy, type EventKind } from './event-kind';
export { detailFacts, detailKind, type DetailFacts, type DetailKind } from './detail';
