/**
 * One entry of `destinations`: where collected rows go. Each type's schema, defaults and validation
 * live in its folder under shared/destinations/ (config.ts); this module dispatches on `type` over
 * the destination kinds it is given (shared/components.ts passes the registry).
 * Options of every type: docs/destinations.md.
 */
import { idField } from '../config-common/fields';
import { addZodIssues, closestName, isPlainObject, type IssueCollector, type Path } from '../config-common/issues';
import type { DestinationConfigBase, DestinationKind } from '../config-common/kinds';

/** Checks one destination; returns the normalised destination when it has no problem. */
export function parseDestination<D extends DestinationConfigBase>(
  raw: unknown,
  path: Path,
  keyVaultUri: string | undefined,
  out: IssueCollector,
  kinds: readonly DestinationKind<D>[],
): D | undefined {
  if (!isPlainObject(raw)) {
    out.add(path, `must be an object describing a destination, e.g. ${kinds[0]?.example ?? '{"id": "siem", "type": "…"}'}`);
    return undefined;
  }
  const kind = typeof raw.type === 'string' ? kinds.find((k) => k.type === raw.type) : undefined;
  if (!kind) {
    const types = kinds.map((k) => k.type);
    const aliases = Object.fromEntries(kinds.flatMap((k) => (k.aliases ?? []).map((a) => [a, k.type] as const)));
    const guess = typeof raw.type === 'string' ? closestName(raw.type, types, aliases) : undefined;
    out.add([...path, 'type'], `${guess ? `"${raw.type as string}" is not a destination type; did you mean "${guess}"? It ` : raw.type === undefined ? 'is required; it ' : ''}must be one of ${types.map((t) => `"${t}"`).join(', ')}`);
    const idCheck = idField('destination').safeParse(raw.id);
    if (!idCheck.success) addZodIssues(out, [...path, 'id'], raw.id, idCheck.error.issues);
    return undefined;
  }
  return kind.parse(raw, path, keyVaultUri, out);
}
