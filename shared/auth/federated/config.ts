/**
 * `federated`: a multi-tenant app that trusts the function app's managed identity (workload
 * identity federation). Options: ./README.md, docs/auth.md.
 */
import { z } from 'zod';
import type { AuthMethodKind } from '../../config-common/kinds';
import { clientIdField, managedIdentityClientIdField, missingClientId } from '../fields';

export interface FederatedAuth {
  method: 'federated';
  /** Application (client) id of the multi-tenant app registration that trusts the managed identity. */
  clientId: string;
  /** Client id of the user-assigned managed identity whose token is the assertion; absent for system-assigned. */
  managedIdentityClientId?: string;
  /** Audience of the managed identity token, e.g. api://AzureADTokenExchange (per cloud). */
  audience: string;
}

export const federatedConfig: AuthMethodKind<FederatedAuth> = {
  method: 'federated',
  fields: () => ({
    clientId: clientIdField(),
    managedIdentityClientId: managedIdentityClientIdField(),
    audience: z.string({ error: 'must be the token exchange audience, e.g. "api://AzureADTokenExchange"' }).min(1),
  }),
  required: ['clientId'],
  missing: { clientId: missingClientId('federated') },
  customCloud: [{ field: 'audience', message: 'cloud "custom" with the "federated" method needs "auth.audience", e.g. "api://AzureADTokenExchange"' }],
  build: (a, cloud) => ({
    method: 'federated', clientId: (a.clientId as string | undefined) ?? '',
    ...(a.managedIdentityClientId ? { managedIdentityClientId: a.managedIdentityClientId as string } : {}),
    audience: (a.audience as string | undefined) ?? cloud.tokenExchangeAudience,
  }),
};
