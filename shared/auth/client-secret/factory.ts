/** `clientSecret`: ClientSecretCredential with the secret read on first use. */
import { ClientSecretCredential } from '@azure/identity';
import type { AuthMethodSpec } from '../spec';
import { clientSecretConfig, type ClientSecretAuth } from './config';

export const clientSecretSpec: AuthMethodSpec<ClientSecretAuth> = {
  ...clientSecretConfig,
  create: async (auth, ctx) => new ClientSecretCredential(ctx.tenantId, auth.clientId, await ctx.secrets.get(auth.clientSecret), ctx.identityOptions),
  renew: (auth, ctx) => ctx.secrets.invalidate(auth.clientSecret),
};
