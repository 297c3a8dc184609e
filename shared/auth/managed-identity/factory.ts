/** `managedIdentity`: ManagedIdentityCredential; it talks to the identity endpoint, not the Entra authority. */
import type { AuthMethodSpec } from '../spec';
import { managedIdentityConfig, type ManagedIdentityAuth } from './config';

export const managedIdentitySpec: AuthMethodSpec<ManagedIdentityAuth> = {
  ...managedIdentityConfig,
  create: (auth, ctx) => ctx.managedIdentity(auth.managedIdentityClientId),
  usesAuthority: false,
};
