/**
 * Credentials per source, through @azure/identity (the only way credentials enter a client).
 * A credential instance is cached per source, so MSAL's token cache serves repeated calls and
 * refreshes tokens before they expire; `renew` drops the instance (and the cached secret) after a
 * 401 on a token that was valid, so the next call gets a fresh token with a re-read secret.
 */
import { ClientSecretCredential } from '@azure/identity';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { SourceConfig } from '../config/types';
import type { SecretSource } from './secrets';

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

/** A TokenCredential for one source that builds its real credential lazily (the secret is read on first use). */
export class SourceCredential implements TokenCredential {
  private inner?: Promise<TokenCredential>;
  constructor(
    private readonly source: SourceConfig,
    private readonly secrets: SecretSource,
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.inner ??= this.build();
    const credential = await this.inner.catch((err) => {
      this.inner = undefined;
      throw err;
    });
    return credential.getToken(scopes, options);
  }

  /** Forget the credential and its secret: the next token comes from a fresh credential. */
  renew(): void {
    this.inner = undefined;
    this.secrets.invalidate(this.source.auth.clientSecret);
  }

  private async build(): Promise<TokenCredential> {
    const { auth, endpoints, tenantId } = this.source;
    const secret = await this.secrets.get(auth.clientSecret);
    return new ClientSecretCredential(tenantId, auth.clientId, secret, {
      authorityHost: endpoints.authorityHost,
      disableInstanceDiscovery: !isKnownAuthority(endpoints.authorityHost),
    });
  }
}
