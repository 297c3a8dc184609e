/**
 * Azure Monitor Logs Ingestion through @azure/monitor-ingestion (LogsIngestionClient.upload), with
 * the managed identity (DefaultAzureCredential; role "Monitoring Metrics Publisher" on the DCR).
 * The collector makes the batches itself (≤ 1 MB, the API's limit per call) and uploads them one at
 * a time, so progress is reported in order; the SDK's own retries are off (the worker retries).
 * Errors (from the SDK's RestError statusCode): 401/403 permanent (role assignment); 404 permanent
 * (wrong rule id or stream); 413 permanent; 400 permanent (records do not match the stream);
 * 408, 429 (Retry-After) and 5xx retryable. No idempotency key: a repeat after a crash duplicates.
 *
 * Detail events go to their own stream, the configured stream's name with "Detail" before "_CL"
 * (Custom-MessageTrace_CL -> Custom-MessageTraceDetail_CL, the second stream and table of
 * infra/modules/logs-ingestion.bicep): a batch is sent as runs of one kind, in order, so progress
 * still counts events in the batch's order.
 */
import { retryAfterSeconds } from '../../outbound-http';
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { isAggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import type { SecretSource } from '../../auth/secrets';
import { excerptOf, firstPartyGeneric, type CollectorError } from '../../errors';
import type { TraceEvent } from '../../model/row';
import { eventKindOf, runsBy } from '../../formats';
import { batchLines, deliverInOrder, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import type { AzureMonitorDestinationConfig } from './config';

export interface AzureMonitorOptions {
  /** Replaces DefaultAzureCredential (tests). */
  credential?: TokenCredential;
}

/** The stream of detail events for a trace stream: "Detail" before "_CL" (or at the end). */
export function detailStreamName(streamName: string): string {
  return /_CL$/.test(streamName) ? `${streamName.slice(0, -3)}Detail_CL` : `${streamName}Detail`;
}

export class AzureMonitorDestination implements Destination {
  readonly type = 'azure-monitor';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  private client?: LogsIngestionClient;
  constructor(private readonly config: AzureMonitorDestinationConfig, secrets: SecretSource, private readonly options: AzureMonitorOptions = {}) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  private clientOf(): LogsIngestionClient {
    const c = this.config;
    this.client ??= new LogsIngestionClient(
      c.endpoint,
      this.options.credential ?? new DefaultAzureCredential(c.managedIdentityClientId ? { managedIdentityClientId: c.managedIdentityClientId } : {}),
      { retryOptions: { maxRetries: 0 }, ...(c.audience ? { audience: c.audience } : {}) },
    );
    return this.client;
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const batches = runsBy(events, eventKindOf).flatMap((run) => {
      const stream = run.key === 'detail' ? detailStreamName(this.config.streamName) : this.config.streamName;
      return batchLines(run.items.map((e) => JSON.stringify(format(e))), this.config.maxBatchRecords, this.config.maxBatchBytes - 2).map((lines) => ({ stream, lines }));
    });
    const client = this.clientOf();
    await deliverInOrder(batches, (b) => b.lines.length, ctx, async ({ stream, lines: batch }) => {
      // The destination's `timeout` bounds each upload call (with the caller's abort signal, if any).
      const timeout = AbortSignal.timeout(this.config.timeoutMs);
      try {
        await client.upload(this.config.ruleId, stream, batch.map((s) => JSON.parse(s) as Record<string, unknown>), {
          maxConcurrency: 1,
          abortSignal: ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout,
        });
      } catch (err) {
        if (timeout.aborted && !ctx.signal?.aborted) {
          throw firstPartyGeneric(`Destination ${this.id} (Azure Monitor Logs Ingestion) did not answer within its timeout of ${Math.round(this.config.timeoutMs / 1000)} s.`, {
            code: 'Timeout', retryable: true, cause: err, fix: 'Usually passes; if it persists, check the network path to the data collection endpoint, or raise the destination\'s "timeout".',
          });
        }
        throw this.failure(err, stream);
      }
    });
  }

  failure(err: unknown, stream = this.config.streamName): CollectorError {
    const cause = isAggregateLogsUploadError(err) ? err.errors[0]?.cause : err;
    const status = (cause as { statusCode?: number }).statusCode;
    const restCode = (cause as { code?: string }).code;
    const message = (cause as Error | undefined)?.message ?? String(cause);
    const what = `Destination ${this.id} (Azure Monitor Logs Ingestion) rejected a batch`;
    const base = { code: restCode ?? (status ? `Http${status}` : 'IngestionFailed'), ...(status ? { statusCode: status } : {}), excerpt: excerptOf(message), cause: err };
    if (status === 401 || status === 403) return firstPartyGeneric(`${what} (${status}).`, { ...base, retryable: false, fix: 'Assign the function app\'s managed identity the "Monitoring Metrics Publisher" role on the DCR (it can take 30 minutes to apply).' });
    if (status === 404) {
      const fix = stream === this.config.streamName
        ? 'Check "ruleId" (the DCR\'s immutable id), "streamName" and that "endpoint" is the DCR\'s logs ingestion endpoint.'
        : `Detail events go to the stream "${stream}" (named after "streamName"): deploy infra/modules/logs-ingestion.bicep, which declares it and its table, or add that stream to the DCR; then replay the parked slice.`;
      return firstPartyGeneric(`${what} (404, stream "${stream}").`, { ...base, retryable: false, fix });
    }
    if (status === 413) return firstPartyGeneric(`${what} (413).`, { ...base, retryable: false, fix: 'Lower "maxBatchBytes" (the API accepts 1 MB per call).' });
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) return firstPartyGeneric(`${what} (${status}).`, { ...base, retryable: false, fix: `The records do not match the DCR stream "${stream}": deploy infra/modules/logs-ingestion.bicep with the columns of the "sentinel" format.` });
    const retryAfter = retryAfterSeconds((cause as { response?: { headers?: { get(n: string): string | undefined } } }).response?.headers?.get('retry-after'));
    return firstPartyGeneric(`${what} (${status ?? 'network error'}); retrying.`, { ...base, retryable: true, ...(retryAfter !== undefined ? { retryAfterSec: retryAfter } : {}) });
  }
}
