/**
 * The auth method registry: one line per method folder, in documentation order (docs/auth.md).
 * Adding a method is one folder shared/auth/<method>/ (config.ts: its fields and normalised type;
 * factory.ts: its credential; README.md) and one line in AUTH_METHODS; SourceAuth follows.
 */
import { authorizationCodeSpec } from './authorization-code/factory';
import { certificateSpec } from './certificate/factory';
import { clientSecretSpec } from './client-secret/factory';
import { federatedSpec } from './federated/factory';
import { managedIdentitySpec } from './managed-identity/factory';
import type { AuthMethodSpec } from './spec';

export const AUTH_METHODS = [
  clientSecretSpec,
  certificateSpec,
  authorizationCodeSpec,
  managedIdentitySpec,
  federatedSpec,
] as const;

/** Every method's normalised `auth` block (one per entry of AUTH_METHODS). */
export type SourceAuth = (typeof AUTH_METHODS)[number] extends infer S ? (S extends AuthMethodSpec<infer A> ? A : never) : never;
export type AuthMethod = SourceAuth['method'];

/** The spec of a method, with its config type erased (the caller holds a block of that method). */
export function authMethodSpec(method: string): AuthMethodSpec<SourceAuth> {
  const spec = (AUTH_METHODS as unknown as readonly AuthMethodSpec<SourceAuth>[]).find((s) => s.method === method);
  if (!spec) throw new TypeError(`unknown auth method "${method}"`);
  return spec;
}
