/**
 * Clients for the jobs storage account (queues and tables), from the `JobsStorage` connection:
 * a connection string locally (Azurite), identity-based `JobsStorage__*` URIs in Azure.
 */
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { DefaultAzureCredential } from '@azure/identity';
import { firstPartyGeneric } from '../errors';

export interface StorageClients {
  table(name: string): TableClient;
  queue(name: string): QueueClient;
  /** Creates the tables and queues if they do not exist. */
  ensure(tables: string[], queues: string[]): Promise<void>;
}

export function storageFromEnvironment(env: NodeJS.ProcessEnv, prefix = 'JobsStorage'): StorageClients {
  const cs = env[prefix];
  if (cs) {
    const insecure = /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true/i.test(cs);
    const queueService = QueueServiceClient.fromConnectionString(cs);
    return makeClients(
      (name) => TableClient.fromConnectionString(cs, name, { allowInsecureConnection: insecure }),
      (name) => queueService.getQueueClient(name),
      () => TableServiceClient.fromConnectionString(cs, { allowInsecureConnection: insecure }),
    );
  }
  const tableUri = env[`${prefix}__tableServiceUri`];
  const queueUri = env[`${prefix}__queueServiceUri`];
  if (!tableUri || !queueUri) {
    throw firstPartyGeneric(
      `Storage is not configured: set ${prefix} to a connection string, or ${prefix}__queueServiceUri and ${prefix}__tableServiceUri (with ${prefix}__credential=managedidentity and ${prefix}__clientId) for an identity-based connection.`,
      { code: 'StorageNotConfigured', retryable: false },
    );
  }
  const clientId = env[`${prefix}__clientId`] ?? env.AZURE_CLIENT_ID;
  const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  const queueService = new QueueServiceClient(queueUri, credential);
  return makeClients(
    (name) => new TableClient(tableUri, name, credential),
    (name) => queueService.getQueueClient(name),
    () => new TableServiceClient(tableUri, credential),
  );
}

function makeClients(
  table: (name: string) => TableClient,
  queue: (name: string) => QueueClient,
  _service: () => TableServiceClient,
): StorageClients {
  const tables = new Map<string, TableClient>();
  const queues = new Map<string, QueueClient>();
  return {
    table(name) {
      let t = tables.get(name);
      if (!t) tables.set(name, (t = table(name)));
      return t;
    },
    queue(name) {
      let q = queues.get(name);
      if (!q) queues.set(name, (q = queue(name)));
      return q;
    },
    async ensure(tableNames, queueNames) {
      await Promise.all([
        ...tableNames.map((n) => this.table(n).createTable()),
        ...queueNames.map((n) => this.queue(n).createIfNotExists()),
      ]);
    },
  };
}

export function isStatus(err: unknown, status: number): boolean {
  return (err as { statusCode?: number } | undefined)?.statusCode === status;
}
