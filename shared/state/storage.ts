/**
 * Clients for the jobs storage account (queues and tables), from the `JobsStorage` connection:
 * a connection string locally (Azurite), identity-based `JobsStorage__*` URIs in Azure.
 */
import { TableClient } from '@azure/data-tables';
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { DefaultAzureCredential } from '@azure/identity';
import { firstPartyGeneric } from '../errors';

export interface StorageClients {
  table(name: string): TableClient;
  queue(name: string): QueueClient;
  container(name: string): ContainerClient;
  /** Creates the tables and queues if they do not exist. */
  ensure(tables: string[], queues: string[], containers?: string[]): Promise<void>;
}

export function storageFromEnvironment(env: NodeJS.ProcessEnv, prefix = 'JobsStorage'): StorageClients {
  const cs = env[prefix];
  if (cs) {
    const insecure = /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true/i.test(cs);
    const queueService = QueueServiceClient.fromConnectionString(cs);
    const blobService = BlobServiceClient.fromConnectionString(cs);
    return makeClients(
      (name) => TableClient.fromConnectionString(cs, name, { allowInsecureConnection: insecure }),
      (name) => queueService.getQueueClient(name),
      (name) => blobService.getContainerClient(name),
    );
  }
  const tableUri = env[`${prefix}__tableServiceUri`];
  const queueUri = env[`${prefix}__queueServiceUri`];
  const blobUri = env[`${prefix}__blobServiceUri`];
  if (!tableUri || !queueUri || !blobUri) {
    throw firstPartyGeneric(
      `Storage is not configured: set ${prefix} to a connection string, or ${prefix}__queueServiceUri, ${prefix}__tableServiceUri and ${prefix}__blobServiceUri (with ${prefix}__credential=managedidentity and ${prefix}__clientId) for an identity-based connection.`,
      { code: 'StorageNotConfigured', retryable: false },
    );
  }
  const clientId = env[`${prefix}__clientId`] ?? env.AZURE_CLIENT_ID;
  const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  const queueService = new QueueServiceClient(queueUri, credential);
  const blobService = new BlobServiceClient(blobUri, credential);
  return makeClients(
    (name) => new TableClient(tableUri, name, credential),
    (name) => queueService.getQueueClient(name),
    (name) => blobService.getContainerClient(name),
  );
}

function makeClients(
  table: (name: string) => TableClient,
  queue: (name: string) => QueueClient,
  container: (name: string) => ContainerClient,
): StorageClients {
  const tables = new Map<string, TableClient>();
  const queues = new Map<string, QueueClient>();
  const containers = new Map<string, ContainerClient>();
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
    container(name) {
      let c = containers.get(name);
      if (!c) containers.set(name, (c = container(name)));
      return c;
    },
    async ensure(tableNames, queueNames, containerNames = []) {
      await Promise.all([
        ...tableNames.map((n) => this.table(n).createTable()),
        ...queueNames.map((n) => this.queue(n).createIfNotExists()),
        ...containerNames.map((n) => this.container(n).createIfNotExists()),
      ]);
    },
  };
}

export function isStatus(err: unknown, status: number): boolean {
  return (err as { statusCode?: number } | undefined)?.statusCode === status;
}
