/**
 * One entry of `destinations`: where collected rows go. Each type's schema, defaults and validation
 * live in its folder under shared/destinations/ (config.ts); this module dispatches on `type`.
 * Options of every type: docs/destinations.md.
 */
import { DESTINATION_SPECS, destinationSpec } from '../destinations';
import { idField } from './fields';
import { addZodIssues, closestName, isPlainObject, type IssueCollector, type Path } from './issues';
import type { DestinationConfig } from './types';

export const DESTINATION_TYPES: readonly string[] = DESTINATION_SPECS.map((s) => s.type);

/** Defaults and limits of the `http` type (kept for callers of the former module). */
export const HTTP_DEFAULTS = { gzip: false, maxBatchBytes: 1_000_000, maxBatchRecords: 5000, timeout: '30s', allowInsecureLoopback: false } as const;
export { MAX_BATCH_BYTES, MAX_BATCH_RECORDS } from '../destinations/limits';

/** Names users write for a destination type, for the "did you mean" of an unknown type. */
const TYPE_ALIASES: Readonly<Record<string, string>> = {
  splunk: 'splunk-hec', hec: 'splunk-hec', sumo: 'sumo-logic', sumologic: 'sumo-logic', elasticsearch: 'elastic', opensearch: 'elastic',
  sentinel: 'azure-monitor', 'log-analytics': 'azure-monitor', loganalytics: 'azure-monitor', blob: 'azure-blob', 'azure-storage': 'azure-blob',
  webhook: 'http', https: 'http', ndjson: 'file',
};

/** Checks one destination; returns the normalised destination when it has no problem. */
export function parseDestination(raw: unknown, path: Path, keyVaultUri: string | undefined, out: IssueCollector): DestinationConfig | undefined {
  if (!isPlainObject(raw)) {
    out.add(path, 'must be an object describing a destination, e.g. {"id": "siem", "type": "http", "url": "https://siem.example.com/ingest"}');
    return undefined;
  }
  const spec = typeof raw.type === 'string' ? destinationSpec(raw.type) : undefined;
  if (!spec) {
    const guess = typeof raw.type === 'string' ? closestName(raw.type, DESTINATION_TYPES, TYPE_ALIASES) : undefined;
    out.add([...path, 'type'], `${guess ? `"${raw.type as string}" is not a destination type; did you mean "${guess}"? It ` : raw.type === undefined ? 'is required; it ' : ''}must be one of ${DESTINATION_TYPES.map((t) => `"${t}"`).join(', ')}`);
    const idCheck = idField('destination').safeParse(raw.id);
    if (!idCheck.success) addZodIssues(out, [...path, 'id'], raw.id, idCheck.error.issues);
    return undefined;
  }
  return spec.parse(raw, path, keyVaultUri, out);
}
