/** `clientSecret`: an app registration's client secret. Options: ./README.md, docs/auth.md. */
import type { AuthMethodKind } from '../../config-common/kinds';
import type { SecretRef } from '../../config-common/types';
import { clientIdField, clientSecretRefField, missingClientId, MISSING_SECRET_REF } from '../fields';

export interface ClientSecretAuth {
  method: 'clientSecret';
  clientId: string;
  clientSecret: SecretRef;
}

export const clientSecretConfig: AuthMethodKind<ClientSecretAuth> = {
  method: 'clientSecret',
  fields: (keyVaultUri) => ({ clientId: clientIdField(), clientSecretRef: clientSecretRefField(keyVaultUri) }),
  required: ['clientId', 'clientSecretRef'],
  aliases: { secretRef: 'clientSecretRef', appId: 'clientId' },
  missing: { clientId: missingClientId('clientSecret'), clientSecretRef: MISSING_SECRET_REF },
  build: (a) => ({ method: 'clientSecret', clientId: (a.clientId as string | undefined) ?? '', clientSecret: a.clientSecretRef as SecretRef }),
  secretRefs: (auth) => [['clientSecretRef', auth.clientSecret]],
};
