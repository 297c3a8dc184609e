/**
 * `authorizationCode`: delegated access through a refresh token that rotates in Key Vault.
 * Options: ./README.md, docs/auth.md.
 */
import { z } from 'zod';
import { secretRefField } from '../../config-common/fields';
import type { AuthMethodKind } from '../../config-common/kinds';
import type { SecretRef } from '../../config-common/types';
import { clientIdField, clientSecretRefField, missingClientId, MISSING_SECRET_REF } from '../fields';

export interface AuthorizationCodeAuth {
  method: 'authorizationCode';
  clientId: string;
  clientSecret: SecretRef;
  /** The Key Vault secret that holds the newest refresh token (each rotation writes a new version). */
  refreshToken: Extract<SecretRef, { kind: 'keyVault' }>;
  /** Optional one-time authorization code, redeemed when the vault holds no refresh token yet. */
  authorizationCode?: SecretRef;
  redirectUri: string;
}

const REDIRECT_URI = 'must be the redirect URI registered on the app, e.g. "https://localhost"';

export const authorizationCodeConfig: AuthMethodKind<AuthorizationCodeAuth> = {
  method: 'authorizationCode',
  fields: (keyVaultUri) => ({
    clientId: clientIdField(),
    clientSecretRef: clientSecretRefField(keyVaultUri),
    refreshTokenRef: secretRefField(keyVaultUri, 'kv:contoso-refresh-token'),
    authorizationCodeRef: secretRefField(keyVaultUri, 'env:CONTOSO_AUTH_CODE'),
    redirectUri: z.string({ error: REDIRECT_URI }).url({ error: REDIRECT_URI }),
  }),
  required: ['clientId', 'clientSecretRef', 'refreshTokenRef'],
  aliases: { refreshToken: 'refreshTokenRef' },
  missing: {
    clientId: missingClientId('authorizationCode'),
    clientSecretRef: MISSING_SECRET_REF,
    refreshTokenRef: 'must be set for the "authorizationCode" method: a Key Vault secret reference such as "kv:contoso-refresh-token" (docs/auth.md)',
  },
  refine(a, ctx) {
    const ref = a.refreshTokenRef as SecretRef | undefined;
    if (ref === undefined) return;
    if (ref.kind !== 'keyVault') {
      ctx.addIssue({ code: 'custom', path: ['refreshTokenRef'], input: undefined, message: 'must be a Key Vault reference such as "kv:contoso-refresh-token": every rotated refresh token is written back to Key Vault as a new version, which an app setting cannot hold' });
    } else if (ref.version) {
      ctx.addIssue({ code: 'custom', path: ['refreshTokenRef'], input: undefined, message: 'must not pin a secret version: the newest version always holds the newest refresh token; remove the "/<version>" part' });
    }
  },
  build: (a) => ({
    method: 'authorizationCode', clientId: (a.clientId as string | undefined) ?? '', clientSecret: a.clientSecretRef as SecretRef,
    refreshToken: a.refreshTokenRef as Extract<SecretRef, { kind: 'keyVault' }>,
    ...(a.authorizationCodeRef ? { authorizationCode: a.authorizationCodeRef as SecretRef } : {}),
    redirectUri: (a.redirectUri as string | undefined) ?? 'https://localhost',
  }),
  secretRefs: (auth) => [['clientSecretRef', auth.clientSecret], ...(auth.authorizationCode ? [['authorizationCodeRef', auth.authorizationCode] as [string, SecretRef]] : [])],
};
