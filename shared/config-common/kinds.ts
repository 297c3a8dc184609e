/** What the config loader needs of a component kind: the registries are lists of these. */
import type { IssueCollector, Path } from './issues';
import type { SecretRef } from './types';

/** What every parsed destination has, as the config loader sees it (each type adds its own fields). */
export interface DestinationConfigBase {
  id: string;
  type: string;
  /**
   * Derived by the config loader, not written by users: the accepted domains of each source that
   * sets its own (source id -> domains). They win over `acceptedDomains` for that source's events.
   */
  acceptedDomainsBySource?: Record<string, string[]>;
}

/** What the config loader needs of one destination type (shared/destinations/registry.ts lists them). */
export interface DestinationKind<C extends DestinationConfigBase = DestinationConfigBase> {
  type: C['type'];
  /** Other names users write for this type, for the "did you mean" of an unknown type. */
  aliases?: readonly string[];
  /** A minimal valid entry, shown in messages and the docs. */
  example: string;
  parse(raw: Record<string, unknown>, path: Path, keyVaultUri: string | undefined, out: IssueCollector): C | undefined;
  /** The environment-variable secret references of a parsed entry, for the "not set" warnings. */
  secretRefs?(config: C): [Path, SecretRef][];
}
