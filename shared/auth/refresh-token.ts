/**
 * The authorization code flow with rotated refresh tokens (the Sumo Logic flow, reference C.4), on
 * the v2 endpoint: a one-time code is redeemed once, and every refresh returns a NEW refresh token.
 *
 * Why not @azure/identity's AuthorizationCodeCredential: it keeps the rotated refresh token inside
 * MSAL's in-memory cache, so a restart would lose it; the only persistence it offers is the OS
 * keychain plugin. Here each new refresh token is written to Key Vault as a new secret version
 * BEFORE its access token is used, so a restart always finds the newest one. If that write fails
 * the token stays in memory, no further refresh happens, and every call retries the write first.
 *
 * Several instances may refresh at once (scale-out). A refresh that fails with invalid_grant
 * re-reads the vault first: when another instance has rotated the token meanwhile, its newer token
 * is used. Only when the vault still holds the rejected token is it a ThirdPartyConfig error
 * (expired after 90 days of inactivity, or revoked), with the fix in words.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { AuthorizationCodeAuth } from '../config/types';
import { CollectorError, excerptOf, firstPartyGeneric, thirdPartyConfig, thirdPartyGeneric } from '../errors';
import type { Clock } from '../time/clock';
import { send } from '../outbound-http';
import { classifyTokenError, redactCredentialFields } from '../api/graph-client';
import { describeSecretRef, type SecretSource } from './secrets';

/** AADSTS codes that mean "this refresh token or code can no longer be used". */
const DEAD_GRANT_CODES: Record<string, string> = {
  '70008': 'expired after inactivity',
  '700082': 'expired after inactivity',
  '700084': 'expired (single-page-app lifetime)',
  '50173': 'revoked (the grant was revoked, e.g. a password change)',
  '50078': 'blocked by a new multi-factor requirement',
  '54005': 'already redeemed',
  '70043': 'expired or revoked by a Conditional Access sign-in frequency policy',
  '9002313': 'malformed',
};

export interface RefreshTokenCredentialOptions {
  tenantId: string;
  authorityHost: string;
  auth: AuthorizationCodeAuth;
  secrets: SecretSource;
  clock: Clock;
  /** The source id, for the fix text (`npm run diagnose -- <source> --auth-code …`). */
  sourceId: string;
  timeoutMs?: number;
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number | string;
  error?: string;
  error_description?: string;
  error_codes?: number[];
}

/** The URL an administrator opens once to get an authorization code (v2, with offline_access). */
export function authorizeUrl(authorityHost: string, tenantId: string, clientId: string, redirectUri: string, scope: string): string {
  const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: redirectUri, response_mode: 'query', scope: `${scope} offline_access` });
  return `${authorityHost.replace(/\/+$/, '')}/${tenantId}/oauth2/v2.0/authorize?${q.toString()}`;
}

export class RefreshTokenCredential implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>();
  /** The newest refresh token known to this instance. */
  private current?: string;
  /** A refresh token received but not yet saved to Key Vault. */
  private unsaved?: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: RefreshTokenCredentialOptions) {}

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken | null> {
    const scope = (Array.isArray(scopes) ? scopes : [scopes]).join(' ');
    const hit = this.cache.get(scope);
    if (hit && !this.unsaved && hit.expiresOnTimestamp - 5 * 60_000 > this.o.clock.now()) return hit;
    // One refresh at a time: each one consumes the refresh token the next one needs.
    const run = this.queue.then(() => this.refresh(scope));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Redeems a one-time authorization code and saves the refresh token it returns. */
  async redeemCode(code: string, scope: string): Promise<void> {
    const run = this.queue.then(async () => {
      const body = await this.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: this.o.auth.redirectUri, scope: `${scope} offline_access` }, 'code');
      await this.accept(body, scope);
    });
    this.queue = run.catch(() => undefined);
    await run;
  }

  /** Forget cached access tokens and the in-memory refresh token (the vault is read again). */
  reset(): void {
    this.cache.clear();
    if (!this.unsaved) this.current = undefined;
  }

  private async refresh(scope: string): Promise<AccessToken> {
    await this.saveUnsaved();
    const hit = this.cache.get(scope);
    if (hit && hit.expiresOnTimestamp - 5 * 60_000 > this.o.clock.now()) return hit;
    let token = this.current ?? (await this.readStored());
    if (token === undefined) {
      const codeRef = this.o.auth.authorizationCode;
      if (!codeRef) throw this.missing();
      const code = await this.o.secrets.get(codeRef);
      const body = await this.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: this.o.auth.redirectUri, scope: `${scope} offline_access` }, 'code');
      return this.accept(body, scope);
    }
    try {
      return await this.accept(await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: token, scope: `${scope} offline_access` }, 'refresh'), scope);
    } catch (err) {
      if (!(err instanceof DeadGrant)) throw err;
      // Another instance may have rotated the token: the vault then holds a newer one.
      this.o.secrets.invalidate(this.o.auth.refreshToken);
      const stored = await this.readStored();
      if (stored !== undefined && stored !== token) {
        token = stored;
        try {
          return await this.accept(await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: token, scope: `${scope} offline_access` }, 'refresh'), scope);
        } catch (again) {
          if (again instanceof DeadGrant) throw this.dead(again);
          throw again;
        }
      }
      throw this.dead(err);
    }
  }

  private async accept(body: TokenResponse, scope: string): Promise<AccessToken> {
    if (!body.access_token) throw thirdPartyGeneric('The token endpoint answered without an access_token.', { code: 'UnexpectedShape' });
    const expiresIn = Number(body.expires_in ?? 3599);
    const token: AccessToken = { token: body.access_token, expiresOnTimestamp: this.o.clock.now() + (Number.isFinite(expiresIn) ? expiresIn : 3599) * 1000 };
    // Cached first: when the save fails, the next call saves and then reuses this access token.
    this.cache.set(scope, token);
    if (body.refresh_token) {
      this.current = body.refresh_token;
      this.unsaved = body.refresh_token;
      await this.saveUnsaved();
    } else if (this.current === undefined) {
      throw thirdPartyConfig('Entra ID issued no refresh token.', {
        code: 'NoRefreshToken',
        fix: 'Request the offline_access scope when signing in (the authorize URL printed by `npm run diagnose -- <source> --auth-url` includes it), and allow public/delegated sign-in for the app.',
      });
    }
    return token;
  }

  private async saveUnsaved(): Promise<void> {
    if (!this.unsaved) return;
    const put = this.o.secrets.put?.bind(this.o.secrets);
    if (!put) {
      throw thirdPartyConfig('The secret store cannot write the rotated refresh token.', { code: 'RefreshTokenNotSaved', fix: 'Use a Key Vault reference (kv:…) for auth.refreshTokenRef.' });
    }
    try {
      await put(this.o.auth.refreshToken, this.unsaved);
      this.unsaved = undefined;
    } catch (err) {
      if (err instanceof CollectorError && err.type === 'ThirdPartyConfig') throw err;
      throw firstPartyGeneric(`The rotated refresh token could not be saved to ${describeSecretRef(this.o.auth.refreshToken)} yet; it is kept in memory and the write is retried before any further refresh.`, {
        code: 'RefreshTokenNotSaved', cause: err,
      });
    }
  }

  private async readStored(): Promise<string | undefined> {
    try {
      return await this.o.secrets.get(this.o.auth.refreshToken);
    } catch (err) {
      if (err instanceof CollectorError && err.code === 'SecretNotFound') return undefined;
      throw err;
    }
  }

  private missing(): CollectorError {
    return thirdPartyConfig(`No refresh token is stored in ${describeSecretRef(this.o.auth.refreshToken)} and no authorization code is configured.`, {
      code: 'RefreshTokenMissing',
      fix: `Sign in once as an administrator at the URL printed by \`npm run diagnose -- ${this.o.sourceId} --auth-url\`, then redeem the code within 10 minutes: \`npm run diagnose -- ${this.o.sourceId} --auth-code <code>\` (or set auth.authorizationCodeRef).`,
    });
  }

  private dead(err: DeadGrant): CollectorError {
    return thirdPartyConfig(`The refresh token in ${describeSecretRef(this.o.auth.refreshToken)} can no longer be used: ${err.reason} (AADSTS${err.aadsts}).`, {
      code: err.aadsts === '50173' ? 'RefreshTokenRevoked' : 'RefreshTokenExpired',
      fix: `Sign in again as an administrator at the URL printed by \`npm run diagnose -- ${this.o.sourceId} --auth-url\` and redeem the new code within 10 minutes: \`npm run diagnose -- ${this.o.sourceId} --auth-code <code>\`. Collection resumes by itself once the new refresh token is stored.`,
    });
  }

  private async tokenRequest(params: Record<string, string>, what: 'code' | 'refresh'): Promise<TokenResponse> {
    const { tenantId, authorityHost, auth } = this.o;
    const clientSecret = await this.o.secrets.get(auth.clientSecret);
    const url = `${authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
    const response = await send(url, {
      method: 'POST',
      form: { client_id: auth.clientId, client_secret: clientSecret, ...params },
      headers: { accept: 'application/json' },
      timeoutMs: this.o.timeoutMs ?? 30_000,
    }, (code) => thirdPartyGeneric(`The token request to Entra ID failed before a response arrived (${code}).`, { code: 'TokenRequestFailed' }));
    let body: TokenResponse;
    try {
      body = JSON.parse(response.body) as TokenResponse;
    } catch {
      throw thirdPartyGeneric(`The token endpoint answered ${response.status} with a body that is not JSON.`, { code: 'TokenRequestFailed', statusCode: response.status, excerpt: excerptOf(redactCredentialFields(response.body), 120) });
    }
    if (response.status === 200 && body.access_token) return body;
    const description = body.error_description ?? '';
    const aadsts = /AADSTS(\d+)/.exec(description)?.[1] ?? (body.error_codes?.[0] !== undefined ? String(body.error_codes[0]) : undefined);
    if (body.error === 'invalid_grant' && aadsts && DEAD_GRANT_CODES[aadsts]) {
      if (what === 'code') {
        throw thirdPartyConfig(`The authorization code was refused: ${DEAD_GRANT_CODES[aadsts]} (AADSTS${aadsts}).`, {
          code: 'AuthorizationCodeInvalid',
          fix: `Authorization codes are single-use and expire after about 10 minutes. Sign in again at the URL printed by \`npm run diagnose -- ${this.o.sourceId} --auth-url\` and redeem the new code at once.`,
        });
      }
      throw new DeadGrant(aadsts, DEAD_GRANT_CODES[aadsts]!);
    }
    if (body.error === 'invalid_grant' && aadsts === '65001') {
      throw thirdPartyConfig('The signed-in administrator has not consented to the permissions the collector needs (AADSTS65001).', {
        code: 'AADSTS65001',
        fix: 'Grant admin consent for the delegated permission (ReportingWebService.Read for RWS, ExchangeMessageTrace.Read.All for Graph) on the app registration, then sign in again.',
      });
    }
    // Secrets, tenants, scopes: the same classification as the other credentials (never the secret itself).
    throw classifyTokenError(new Error(`${body.error ?? `HTTP ${response.status}`}: ${description.split('\r\n')[0] ?? ''}`));
  }
}

class DeadGrant extends Error {
  constructor(readonly aadsts: string, readonly reason: string) {
    super(`refresh token ${reason}`);
  }
}
