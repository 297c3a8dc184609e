/**
 * Credentials per source, through @azure/identity (the only way credentials enter a client), one
 * per auth method (docs/auth.md):
 * - clientSecret: ClientSecretCredential;
 * - certificate: ClientAssertionCredential with an assertion signed here (shared/auth/certificate.ts),
 *   so both thumbprint forms (x5t#S256 with PS256, x5t with RS256) are possible;
 * - authorizationCode: RefreshTokenCredential (shared/auth/refresh-token.ts), which writes every
 *   rotated refresh token back to Key Vault;
 * - managedIdentity: ManagedIdentityCredential (system- or user-assigned);
 * - federated: ClientAssertionCredential whose assertion is a managed identity token for the
 *   token-exchange audience (api://AzureADTokenExchange), for a multi-tenant app.
 *
 * A credential instance is cached per source, so MSAL's token cache serves repeated calls and
 * refreshes tokens before they expire; `renew` drops the instance (and the cached secret) after a
 * 401 on a token that was valid, so the next call gets a fresh token with a re-read secret.
 */
import { readFile } from 'node:fs/promises';
import { ClientAssertionCredential, ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { SourceConfig } from '../config/types';
import { CollectorError, thirdPartyConfig } from '../errors';
import { explainAuthorityFailure, looksLikeHiddenNetworkFailure } from '../api/network';
import { systemClock, type Clock } from '../time/clock';
import { loadPemCertificate, signClientAssertion, type LoadedCertificate } from './certificate';
import { RefreshTokenCredential } from './refresh-token';
import { describeSecretRef, type SecretSource } from './secrets';

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
  /** Kept across renewals: it may hold a rotated refresh token that is not saved yet. */
  private refreshCredential?: RefreshTokenCredential;
  private readonly clock: Clock;
  constructor(
    private readonly source: SourceConfig,
    private readonly secrets: SecretSource,
    private readonly options: SourceCredentialOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.inner ??= this.build();
    const credential = await this.inner.catch((err) => {
      this.inner = undefined;
      throw err;
    });
    try {
      return await credential.getToken(scopes, options);
    } catch (err) {
      // The identity library hides network and TLS causes (and calls them all an endpoints
      // resolution error); ask the authority ourselves so the error names what really happened.
      if (!(err instanceof CollectorError) && this.source.auth.method !== 'managedIdentity' && looksLikeHiddenNetworkFailure(err)) {
        const explained = await explainAuthorityFailure(this.source.endpoints.authorityHost, this.source.tenantId).catch(() => undefined);
        if (explained) throw explained;
      }
      throw err;
    }
  }

  /** Forget the credential and its secrets: the next token comes from a fresh credential. */
  renew(): void {
    this.inner = undefined;
    const auth = this.source.auth;
    if (auth.method === 'clientSecret') this.secrets.invalidate(auth.clientSecret);
    if (auth.method === 'certificate' && auth.certificate.kind === 'secret') this.secrets.invalidate(auth.certificate.ref);
    if (auth.method === 'authorizationCode') {
      this.secrets.invalidate(auth.clientSecret);
      this.refreshCredential?.reset();
    }
  }

  /** For the authorizationCode method: redeem a one-time code now and store its refresh token. */
  async redeemAuthorizationCode(code: string): Promise<void> {
    if (this.source.auth.method !== 'authorizationCode') {
      throw thirdPartyConfig(`Source "${this.source.id}" uses the ${this.source.auth.method} method; only the authorizationCode method redeems a code.`, {
        code: 'WrongAuthMethod', fix: 'Set auth.method to "authorizationCode" (see docs/auth.md) or leave out --auth-code.',
      });
    }
    await this.refreshTokenCredential().redeemCode(code, apiScopeOf(this.source));
  }

  private refreshTokenCredential(): RefreshTokenCredential {
    const { auth, endpoints, tenantId, id } = this.source;
    if (auth.method !== 'authorizationCode') throw new Error('not an authorizationCode source');
    this.refreshCredential ??= new RefreshTokenCredential({ tenantId, authorityHost: endpoints.authorityHost, auth, secrets: this.secrets, clock: this.clock, sourceId: id });
    return this.refreshCredential;
  }

  private async build(): Promise<TokenCredential> {
    const { auth, endpoints, tenantId } = this.source;
    const common = { authorityHost: endpoints.authorityHost, disableInstanceDiscovery: !isKnownAuthority(endpoints.authorityHost) };
    switch (auth.method) {
      case 'clientSecret': {
        const secret = await this.secrets.get(auth.clientSecret);
        return new ClientSecretCredential(tenantId, auth.clientId, secret, common);
      }
      case 'certificate': {
        const cert = await this.loadCertificate();
        const audience = `${endpoints.authorityHost.replace(/\/+$/, '')}/${tenantId}/oauth2/v2.0/token`;
        return new ClientAssertionCredential(tenantId, auth.clientId, async () =>
          signClientAssertion(cert, { clientId: auth.clientId, audience, thumbprint: auth.thumbprint, sendCertificateChain: auth.sendCertificateChain, nowMs: this.clock.now() }), common);
      }
      case 'authorizationCode':
        return this.refreshTokenCredential();
      case 'managedIdentity':
        return this.managedIdentity(auth.managedIdentityClientId);
      case 'federated': {
        const mi = this.managedIdentity(auth.managedIdentityClientId);
        const scope = `${auth.audience.replace(/\/+$/, '')}/.default`;
        return new ClientAssertionCredential(tenantId, auth.clientId, async () => {
          const t = await mi.getToken(scope);
          if (!t) throw new Error('the managed identity returned no token for the token-exchange audience');
          return t.token;
        }, common);
      }
    }
  }

  private managedIdentity(clientId: string | undefined): TokenCredential {
    if (this.options.managedIdentity) return this.options.managedIdentity(clientId);
    return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  }

  private async loadCertificate(): Promise<LoadedCertificate> {
    const auth = this.source.auth;
    if (auth.method !== 'certificate') throw new Error('not a certificate source');
    if (auth.certificate.kind === 'secret') {
      const ref = auth.certificate.ref;
      return loadPemCertificate(await this.secrets.get(ref), describeSecretRef(ref));
    }
    const path = auth.certificate.path;
    let pem: string;
    try {
      pem = await (this.options.readFile ?? ((p: string) => readFile(p, 'utf8')))(path);
    } catch (err) {
      throw thirdPartyConfig(`The certificate file ${path} could not be read (${(err as { code?: string }).code ?? 'error'}).`, {
        code: 'CertificateNotFound', fix: 'Check auth.certificatePath: the file must exist on the function app and be readable (or use certificateRef with Key Vault).',
      });
    }
    return loadPemCertificate(pem, path);
  }
}
