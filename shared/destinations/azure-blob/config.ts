/** `azure-blob`: an NDJSON.gz archive in Azure Blob Storage, replayable with `npm run replay`. Options: docs/destinations.md#azure-blob. */
import { z } from 'zod';
import { booleanField, durationField, guidField } from '../../config-common/fields';
import { MINUTE_MS, SECOND_MS } from '../../time/expressions';
import type { DestinationCommonConfig } from '../config-common';
import type { SecretRef } from '../../config-common/types';
import { checkHttpUrl, parseEntry, secretRef } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

export interface AzureBlobDestinationConfig extends DestinationCommonConfig {
  type: 'azure-blob';
  /** https://<account>.blob.core.windows.net (managed identity), or undefined with `connectionString`. */
  accountUrl?: string;
  /** A storage connection string (Azurite, or an account key), as a secret reference. */
  connectionString?: SecretRef;
  /** Client id of a user-assigned managed identity (DefaultAzureCredential otherwise picks the system one). */
  managedIdentityClientId?: string;
  container: string;
  /** Prefix of every blob name, "" or ending with "/". */
  prefix: string;
  /** Also write the page's API rows as {"value": [...]} next to the events. */
  archiveRawPages: boolean;
  timeoutMs: number;
}

const CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export const azureBlobConfig: DestinationKind<AzureBlobDestinationConfig> = {
  type: 'azure-blob',
  aliases: ['blob', 'azure-storage'],
  example: '{"id": "archive", "type": "azure-blob", "accountUrl": "https://mtcarchive.blob.core.windows.net", "container": "message-trace"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const entry = parseEntry(raw, path, out, {
      type: 'azure-blob', keyVaultUri, defaultFormat: 'raw', secretRefField: 'connectionStringRef',
      aliases: { account: 'accountUrl', url: 'accountUrl', connectionString: 'connectionStringRef', containerName: 'container', rawPages: 'archiveRawPages', clientId: 'managedIdentityClientId' },
      shape: {
        accountUrl: z.string({ error: 'must be the blob endpoint of the storage account, e.g. "https://mtcarchive.blob.core.windows.net"' }).optional(),
        connectionStringRef: secretRef(keyVaultUri, 'env:ARCHIVE_CONNECTION_STRING').optional(),
        managedIdentityClientId: guidField('client id of the user-assigned managed identity').optional(),
        container: z.string({ error: 'must be a container name, e.g. "message-trace"' }).regex(CONTAINER, { error: 'must be a container name of 3-63 lowercase letters, digits and single dashes, e.g. "message-trace"' }).default('message-trace'),
        prefix: z.string({ error: 'must be a blob name prefix such as "mtc/"' }).regex(/^([A-Za-z0-9._=-]+\/)*$/, { error: 'must be "" or folder names ending with "/", e.g. "mtc/" (letters, digits, ".", "_", "=", "-")' }).default(''),
        archiveRawPages: booleanField().default(false),
        timeout: durationField(SECOND_MS, 10 * MINUTE_MS, '30s').prefault('30s'),
        allowInsecureLoopback: booleanField().default(false),
      },
    });
    let accountUrl: string | undefined;
    if (typeof raw.accountUrl === 'string') accountUrl = checkHttpUrl(raw.accountUrl, raw.allowInsecureLoopback === true, [...path, 'accountUrl'], out, 'https://mtcarchive.blob.core.windows.net');
    if (raw.accountUrl === undefined && raw.connectionStringRef === undefined) {
      out.add(path, 'needs "accountUrl" (the storage account\'s blob endpoint, used with the managed identity) or "connectionStringRef" (a secret reference to a connection string)');
    } else if (raw.accountUrl !== undefined && raw.connectionStringRef !== undefined) {
      out.add([...path, 'connectionStringRef'], 'cannot be used together with "accountUrl"; keep one: "accountUrl" for the managed identity, or "connectionStringRef"');
    }
    if (!entry || out.issues.length > before) return undefined;
    const d = entry.data;
    return {
      ...entry.common, type: 'azure-blob', container: d.container, prefix: d.prefix, archiveRawPages: d.archiveRawPages, timeoutMs: d.timeout,
      ...(accountUrl ? { accountUrl: accountUrl.replace(/\/+$/, '') } : {}),
      ...(d.connectionStringRef ? { connectionString: d.connectionStringRef } : {}),
      ...(d.managedIdentityClientId ? { managedIdentityClientId: d.managedIdentityClientId } : {}),
    };
  },
};
