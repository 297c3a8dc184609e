/**
 * `authorizationCode`: RefreshTokenCredential (./refresh-token.ts), which writes every rotated
 * refresh token back to Key Vault. The credential is kept across renewals: it may hold a rotated
 * refresh token that is not saved yet.
 */
import type { AuthMethodSpec, CredentialContext } from '../spec';
import { authorizationCodeConfig, type AuthorizationCodeAuth } from './config';
import { RefreshTokenCredential } from './refresh-token';

const refreshTokenCredential = (auth: AuthorizationCodeAuth, ctx: CredentialContext) =>
  ctx.keep(() => new RefreshTokenCredential({ tenantId: ctx.tenantId, authorityHost: ctx.authorityHost, auth, secrets: ctx.secrets, clock: ctx.clock, sourceId: ctx.sourceId }));

export const authorizationCodeSpec: AuthMethodSpec<AuthorizationCodeAuth> = {
  ...authorizationCodeConfig,
  create: refreshTokenCredential,
  renew(auth, ctx) {
    ctx.secrets.invalidate(auth.clientSecret);
    ctx.kept<RefreshTokenCredential>()?.reset();
  },
  redeemCode: (auth, ctx, code, scope) => refreshTokenCredential(auth, ctx).redeemCode(code, scope),
};
