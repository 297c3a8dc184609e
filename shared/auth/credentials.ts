/**
 * Credentials per source, through @azure/identity (the only way credentials enter a client), one
 * per auth method (docs/auth.md): each method's folder under shared/auth/ builds its credential
 * (factory.ts), and shared/auth/registry.ts lists the methods.
 *
 * A credential instance is cached per source, so MSAL's token cache serves repeated calls and
 * refreshes tokens before they expire; `renew` drops the instance (and the cached secret) after a
 * 401 on a token that was valid, so the next call gets a fresh token with a re-read secret.
 */
import { readFile } from 'node:fs/promises';
import { ManagedIdentityCredential } from '@azure/identity';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { SourceConfig } from '../components';
import { CollectorError, thirdPartyConfig } from '../errors';
import { explainAuthorityFailure, looksLikeHiddenNetworkFailure } from '../api/network';
import { systemClock, type Clock } from '../time/clock';
import { authMethodSpec, type SourceAuth } from './registry';
import type { SecretSource } from './secrets';
import type { AuthMethodSpec, CredentialContext } from './spec';

const KNOWN_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

/** Instance discovery only works against Microsoft's own authority hosts; custom hosts turn it off. */
export function isKnownAuthority(authorityHost: string): boolean {
  return KNOWN_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase());
}

/** The token scope a source's API needs (Graph or the RWS report's Exchange Online resource). */
export function apiScopeOf(source: SourceConfig): string {
  return source.api === 'rws' && source.rws ? source.rws.scope : source.endpoints.graphScope;
}

export interface SourceCredentialOptions {
  /** The clock for client assertion times and refresh-token expiry (default: the system clock). */
  clock?: Clock;
  /** Reads a certificate file (default: fs.readFile as UTF-8). */
  readFile?: (path: string) => Promise<string>;
  /** Builds the managed identity credential (tests; default ManagedIdentityCredential). */
  managedIdentity?: (clientId: string | undefined) => TokenCredential;
}

/** A TokenCredential for one source that builds its real credential lazily (secrets are read on first use). */
export class SourceCredential implements TokenCredential {
  private inner?: Promise<TokenCredential>;
  private readonly spec: AuthMethodSpec<SourceAuth>;
  private readonly context: CredentialContext;
  constructor(
    private readonly source: SourceConfig,
    secrets: SecretSource,
    options: SourceCredentialOptions = {},
  ) {
    const { endpoints, tenantId, id } = source;
    let kept: unknown;
    this.spec = authMethodSpec(source.auth.method);
    this.context = {
      sourceId: id,
      tenantId,
      authorityHost: endpoints.authorityHost,
      identityOptions: { authorityHost: endpoints.authorityHost, disableInstanceDiscovery: !isKnownAuthority(endpoints.authorityHost) },
      secrets,
      clock: options.clock ?? systemClock,
      managedIdentity: (clientId) => options.managedIdentity ? options.managedIdentity(clientId) : clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential(),
      readFile: options.readFile ?? ((path) => readFile(path, 'utf8')),
      keep: <T>(make: () => T): T => (kept ??= make()) as T,
      kept: <T>() => kept as T | undefined,
    };
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.inner ??= (async () => this.spec.create(this.source.auth, this.context))();
    const credential = await this.inner.catch((err) => {
      this.inner = undefined;
      throw err;
    });
    try {
      return await credential.getToken(scopes, options);
    } catch (err) {
      // The identity library hides network and TLS causes (and calls them all an endpoints
      // resolution error); ask the authority ourselves so the error names what really happened.
      if (!(err instanceof CollectorError) && this.spec.usesAuthority !== false && looksLikeHiddenNetworkFailure(err)) {
        const explained = await explainAuthorityFailure(this.source.endpoints.authorityHost, this.source.tenantId).catch(() => undefined);
        if (explained) throw explained;
      }
      throw err;
    }
  }

  /** Forget the credential and its secrets: the next token comes from a fresh credential. */
  renew(): void {
    this.inner = undefined;
    this.spec.renew?.(this.source.auth, this.context);
  }

  /** For the authorizationCode method: redeem a one-time code now and store its refresh token. */
  async redeemAuthorizationCode(code: string): Promise<void> {
    if (!this.spec.redeemCode) {
      throw thirdPartyConfig(`Source "${this.source.id}" uses the ${this.source.auth.method} method; only the authorizationCode method redeems a code.`, {
        code: 'WrongAuthMethod', fix: 'Set auth.method to "authorizationCode" (see docs/auth.md) or leave out --auth-code.',
      });
    }
    await this.spec.redeemCode(this.source.auth, this.context, code, apiScopeOf(this.source));
  }
}
