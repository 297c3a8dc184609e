/** What the config loader needs of a component kind: the registries are lists of these. */
import type { z } from 'zod';
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

/** What every parsed auth block has: the method that reads it. */
export interface AuthConfigBase {
  method: string;
}

/**
 * What the config loader needs of one auth method (shared/auth/registry.ts lists them). The `auth`
 * block of a source is one object: each field's schema comes from the methods that take it, and
 * each method then checks that it has what it requires and nothing it does not take.
 */
export interface AuthMethodKind<A extends AuthConfigBase = AuthConfigBase> {
  method: A['method'];
  /** The schemas of the fields this method takes besides `method`, in documentation order. */
  fields(keyVaultUri: string | undefined): Record<string, z.ZodType>;
  /** The fields that must be set (the rest of `fields` are optional). */
  required: readonly string[];
  /** Names users write for this method's fields (alias -> field), for the "did you mean" of unknown fields. */
  aliases?: Readonly<Record<string, string>>;
  /** The message for a missing required field, where the loader's generic one does not fit. */
  missing?: Readonly<Record<string, string>>;
  /** Checks across this method's fields, once each parsed; issues go to `ctx` with the field's path. */
  refine?(auth: Record<string, unknown>, ctx: z.RefinementCtx): void;
  /** Fields that a named cloud defaults but cloud "custom" needs, with the message when missing. */
  customCloud?: readonly { field: string; message: string }[];
  /** The normalised block; `tokenExchangeAudience` is the source cloud's ('' in cloud "custom"). */
  build(auth: Record<string, unknown>, cloud: { tokenExchangeAudience: string }): A;
  /** The secret references of a parsed block, by the config field that holds each (for warnings). */
  secretRefs?(auth: A): [string, SecretRef][];
}
