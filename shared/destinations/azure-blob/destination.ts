/**
 * Azure Blob archive: the events of one slice page as one gzipped NDJSON blob under a deterministic
 * name (names.ts), so a retry overwrites instead of duplicating. Optionally the page's API rows too:
 * one entry per event, in the events' order, the API's record of each (a trace row, its legacy record
 * for RWS rows, or a detail event's getDetailsByRecipient entry).
 * Blob metadata records the format, so `npm run replay` only re-sends raw archives.
 * Auth: the managed identity (DefaultAzureCredential; role "Storage Blob Data Contributor" on the
 * container) with `accountUrl`, or a connection string from a secret.
 * Errors: 401/403 permanent (role or key), 404 ContainerNotFound is fixed by creating the container
 * (the destination creates it on first use), 408/429/5xx and network errors retryable.
 */
import { gzipSync } from 'node:zlib';
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { SecretSource } from '../../auth/secrets';
import { firstPartyGeneric, type CollectorError } from '../../errors';
import type { TraceEvent } from '../../model/row';
import type { Destination, SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import type { AzureBlobDestinationConfig } from './config';
import { EVENTS_SUFFIX, PAGE_SUFFIX, pageBlobBase } from './names';

export interface AzureBlobOptions {
  /** Replaces DefaultAzureCredential (tests). */
  credential?: TokenCredential;
}

export class AzureBlobDestination implements Destination {
  readonly type = 'azure-blob';
  readonly id: string;
  readonly idempotent = true;
  private readonly formatter: DestinationFormatter;
  private container?: Promise<ContainerClient>;
  private created = false;
  constructor(private readonly config: AzureBlobDestinationConfig, private readonly secrets: SecretSource, private readonly options: AzureBlobOptions = {}) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  /** The container client (also used by the replay). */
  containerClient(): Promise<ContainerClient> {
    this.container ??= (async () => {
      const c = this.config;
      const retryOptions = { maxTries: 1, tryTimeoutInMs: c.timeoutMs };
      const service = c.connectionString
        ? BlobServiceClient.fromConnectionString(await this.secrets.get(c.connectionString), { retryOptions })
        : new BlobServiceClient(c.accountUrl!, this.options.credential ?? new DefaultAzureCredential(c.managedIdentityClientId ? { managedIdentityClientId: c.managedIdentityClientId } : {}), { retryOptions });
      return service.getContainerClient(c.container);
    })();
    this.container.catch(() => (this.container = undefined));
    return this.container;
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const base = pageBlobBase(this.config.prefix, ctx.sourceId, ctx.sliceId, ctx.page);
    const plain = Buffer.from(events.map((e) => JSON.stringify(format(e))).join('\n') + '\n', 'utf8');
    const body = gzipSync(plain);
    const metadata = { mtcformat: this.config.format, mtcprivacy: this.config.privacy.drop.length + this.config.privacy.hash.length > 0 ? 'yes' : 'no', mtcevents: String(events.length) };
    // The destination's `timeout` bounds each call (the SDK's per-try timeout alone does not end a
    // request whose server accepted the connection and never answers).
    const call = () => {
      const timeout = AbortSignal.timeout(this.config.timeoutMs);
      return { abortSignal: ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout, timeout };
    };
    let current: ReturnType<typeof call> | undefined;
    try {
      const container = await this.containerClient();
      if (!this.created) {
        current = call();
        await container.createIfNotExists({ abortSignal: current.abortSignal });
        this.created = true;
      }
      if (this.config.archiveRawPages) {
        const rows = events.map((e) => (e.detail !== undefined ? e.detail : e.raw !== undefined ? e.raw : e.row));
        const page = gzipSync(Buffer.from(JSON.stringify({ value: rows }), 'utf8'));
        current = call();
        await container.getBlockBlobClient(`${base}${PAGE_SUFFIX}`).upload(page, page.length, {
          blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'gzip' }, metadata, abortSignal: current.abortSignal,
        });
      }
      current = call();
      await container.getBlockBlobClient(`${base}${EVENTS_SUFFIX}`).upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: 'application/x-ndjson', blobContentEncoding: 'gzip' }, metadata, abortSignal: current.abortSignal,
      });
    } catch (err) {
      if (current?.timeout.aborted && !ctx.signal?.aborted) {
        throw firstPartyGeneric(`Destination ${this.id} (Azure Blob archive) did not answer within its timeout of ${Math.round(this.config.timeoutMs / 1000)} s.`, {
          code: 'Timeout', retryable: true, cause: err, fix: 'Usually passes; if it persists, check the network path to the storage account, or raise the destination\'s "timeout".',
        });
      }
      throw this.failure(err);
    }
    await ctx.onProgress?.(events.length, plain.length);
  }

  failure(err: unknown): CollectorError {
    if ((err as { type?: string }).type && (err as { code?: unknown }).code) return err as CollectorError;
    const status = (err as { statusCode?: number }).statusCode;
    const code = (err as { code?: string }).code ?? (status ? `Http${status}` : 'BlobWriteFailed');
    const what = `Destination ${this.id} (Azure Blob) could not write to container "${this.config.container}"`;
    if (status === 401 || status === 403) {
      if (this.config.connectionString) this.secrets.invalidate(this.config.connectionString);
      return firstPartyGeneric(`${what} (${status} ${code}).`, { code, statusCode: status, retryable: false, fix: 'Grant the function app\'s managed identity "Storage Blob Data Contributor" on the container, or fix the connection string secret.' });
    }
    const retryable = status === undefined || status === 404 || status === 408 || status === 409 || status === 429 || status >= 500;
    if (status === 404) this.created = false;
    return firstPartyGeneric(`${what} (${status ?? 'network'} ${code}).`, { code, ...(status ? { statusCode: status } : {}), retryable, cause: err });
  }

  /** Creates the container when missing (proves the credential can write). */
  async healthCheck(): Promise<void> {
    try {
      await (await this.containerClient()).createIfNotExists();
      this.created = true;
    } catch (err) {
      throw this.failure(err);
    }
  }
}
