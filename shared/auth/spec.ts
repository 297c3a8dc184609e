/** What one auth method folder under shared/auth/ registers (one line in shared/auth/registry.ts). */
import type { TokenCredential } from '@azure/core-auth';
import type { AuthConfigBase, AuthMethodKind } from '../config-common/kinds';
import type { Clock } from '../time/clock';
import type { SecretSource } from './secrets';

/** What a method's factory gets from the source's SourceCredential (shared/auth/credentials.ts). */
export interface CredentialContext {
  sourceId: string;
  tenantId: string;
  authorityHost: string;
  /** The options every identity-library credential of this source gets. */
  identityOptions: { authorityHost: string; disableInstanceDiscovery: boolean };
  secrets: SecretSource;
  clock: Clock;
  /** Builds a managed identity credential (system-assigned without a client id). */
  managedIdentity(clientId: string | undefined): TokenCredential;
  /** Reads a file as UTF-8. */
  readFile(path: string): Promise<string>;
  /** One value kept for the life of the SourceCredential, across renewals (made on first call). */
  keep<T>(make: () => T): T;
  /** The kept value, if made. */
  kept<T>(): T | undefined;
}

export interface AuthMethodSpec<A extends AuthConfigBase = AuthConfigBase> extends AuthMethodKind<A> {
  /** The method's credential (secrets are read here, on first use). */
  create(auth: A, ctx: CredentialContext): TokenCredential | Promise<TokenCredential>;
  /** Forgets what a renewal must read again (cached secrets); default nothing. */
  renew?(auth: A, ctx: CredentialContext): void;
  /** Redeems a one-time authorization code and stores its refresh token (methods that can). */
  redeemCode?(auth: A, ctx: CredentialContext, code: string, scope: string): Promise<void>;
  /** False for a method that never calls the Entra authority, whose failures are then not probed there. */
  usesAuthority?: boolean;
}
