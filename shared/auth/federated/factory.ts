/**
 * `federated`: ClientAssertionCredential whose assertion is a managed identity token for the
 * token-exchange audience (api://AzureADTokenExchange), for a multi-tenant app.
 */
import { ClientAssertionCredential } from '@azure/identity';
import type { AuthMethodSpec } from '../spec';
import { federatedConfig, type FederatedAuth } from './config';

export const federatedSpec: AuthMethodSpec<FederatedAuth> = {
  ...federatedConfig,
  create(auth, ctx) {
    const mi = ctx.managedIdentity(auth.managedIdentityClientId);
    const scope = `${auth.audience.replace(/\/+$/, '')}/.default`;
    return new ClientAssertionCredential(ctx.tenantId, auth.clientId, async () => {
      const t = await mi.getToken(scope);
      if (!t) throw new Error('the managed identity returned no token for the token-exchange audience');
      return t.token;
    }, ctx.identityOptions);
  },
};
