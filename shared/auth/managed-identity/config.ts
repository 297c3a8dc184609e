/** `managedIdentity`: the function app's managed identity (system- or user-assigned). Options: ./README.md, docs/auth.md. */
import type { AuthMethodKind } from '../../config-common/kinds';
import { managedIdentityClientIdField } from '../fields';

export interface ManagedIdentityAuth {
  method: 'managedIdentity';
  /** Client id of a user-assigned managed identity; absent for the system-assigned identity. */
  managedIdentityClientId?: string;
}

export const managedIdentityConfig: AuthMethodKind<ManagedIdentityAuth> = {
  method: 'managedIdentity',
  fields: () => ({ managedIdentityClientId: managedIdentityClientIdField() }),
  required: [],
  aliases: { identityClientId: 'managedIdentityClientId', miClientId: 'managedIdentityClientId' },
  build: (a) => ({ method: 'managedIdentity', ...(a.managedIdentityClientId ? { managedIdentityClientId: a.managedIdentityClientId as string } : {}) }),
};
