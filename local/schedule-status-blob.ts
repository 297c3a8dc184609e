/**
 * Timer schedule status kept where the Functions host keeps it: a blob in the host storage account
 * (`AzureWebJobsStorage`), container `azure-webjobs-hosts`, `timers/<hostId>/<function>/status`,
 * holding `{"Last": ..., "Next": ..., "LastUpdated": ...}`. With it, a timer missed while the
 * local host was down fires once, past due, at the next start (with Azurite persisting to a folder).
 */
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { ScheduleStatus, ScheduleStatusStore } from './timer-listener';

export class BlobScheduleStatusStore implements ScheduleStatusStore {
  private readonly container: ContainerClient;
  private created?: Promise<unknown>;

  constructor(connectionString: string, private readonly hostId: string) {
    this.container = BlobServiceClient.fromConnectionString(connectionString, { retryOptions: { maxTries: 2 } }).getContainerClient('azure-webjobs-hosts');
  }

  private blob(functionName: string) {
    return this.container.getBlockBlobClient(`timers/${this.hostId}/${functionName}/status`);
  }

  async get(functionName: string): Promise<ScheduleStatus | undefined> {
    try {
      const buf = await this.blob(functionName).downloadToBuffer();
      const raw = JSON.parse(buf.toString('utf8')) as { Last?: unknown; Next?: unknown; LastUpdated?: unknown };
      if (typeof raw.Next !== 'string') return undefined;
      return {
        last: typeof raw.Last === 'string' ? raw.Last : new Date(0).toISOString(),
        next: raw.Next,
        lastUpdated: typeof raw.LastUpdated === 'string' ? raw.LastUpdated : raw.Next,
      };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async set(functionName: string, status: ScheduleStatus): Promise<void> {
    this.created ??= this.container.createIfNotExists().catch((err) => {
      this.created = undefined;
      throw err;
    });
    await this.created;
    const body = JSON.stringify({ Last: status.last, Next: status.next, LastUpdated: status.lastUpdated });
    await this.blob(functionName).upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
  }
}
