/** Field schemas and messages that more than one auth method uses (each method's folder lists its fields). */
import { guidField, secretRefField } from '../config-common/fields';
import { SECRET_REF_SYNTAX } from '../config-common/secrets';

export const clientIdField = () => guidField('application (client) id of the app registration');
export const clientSecretRefField = (keyVaultUri: string | undefined) => secretRefField(keyVaultUri, 'env:CONTOSO_SECRET');
export const managedIdentityClientIdField = () => guidField('client id of the user-assigned managed identity');

/** The message for a missing `clientId` of `method`. */
export const missingClientId = (method: string) => `must be set for the "${method}" method: the application (client) id of the app registration, a GUID`;
/** The message for a missing secret reference. */
export const MISSING_SECRET_REF = `must be a secret reference such as "env:CONTOSO_SECRET": ${SECRET_REF_SYNTAX}`;
