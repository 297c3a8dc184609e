/**
 * Elasticsearch `_bulk`: each event is `{"create": {"_index": …, "_id": <eventId>}}` + the document,
 * so a repeated write is rejected with 409 (version_conflict_engine_exception), which counts as
 * success: writes are idempotent. The bulk response is per item:
 * - 200/201, or 409: delivered;
 * - 429 or 5xx (es_rejected_execution_exception, unavailable shards): retryable. Progress is reported
 *   up to the first failed item of the batch, then a retryable error is thrown; the retry re-sends
 *   from there, and items that had already succeeded come back as 409 (success);
 * - other 4xx (mapper_parsing_exception, …): permanent. Progress up to the failed item, then a
 *   permanent error that quotes the item's error type and reason.
 * A non-2xx answer to the whole request is classified like any HTTP failure.
 *
 * With the `o365-messagetrace` format (the default) the document is the one Elastic's message trace
 * integration reads: `message` holds the report record as JSON (its ingest pipeline moves it to
 * `event.original` and parses it into `microsoft.online_message_trace.*` and ECS), `_conf.local_domains`
 * the accepted domains (its pipeline derives `email.direction` from them and then removes `_conf`),
 * and `@timestamp` the received time (its pipeline sets the same value from `Received`).
 *
 * Detail events never go into the integration's data stream: its pipeline parses `message` as a
 * trace record and sets `_id` to its fingerprint of sender, recipient, Message-ID, trace id, subject,
 * status and size, so a row's details would come out as trace rows without a status, and all but the
 * first of them would be dropped as duplicates of each other (409). With the `o365-messagetrace`
 * format, or when the index is the integration's data stream, details are written to their own
 * data stream, `logs-mtc.message_trace_detail-<namespace>` (the namespace of a `logs-<dataset>-<namespace>`
 * index; another index gets `<index>-detail`), as ECS documents (the data stream is ours: no
 * integration reads a detail record, and a data stream needs `@timestamp`; docs/siem/elastic.md),
 * without the configured `pipeline` (written for the trace documents). With any other format and
 * index, details go where the rows go, in the same format (which marks the kind). `_id` is the
 * eventId in every case, so repeats stay idempotent. A batch is sent as runs of one target, in order.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { excerptOf, firstPartyGeneric } from '../../errors';
import { isDetailEvent, receivedMs, type TraceEvent } from '../../model/row';
import { ECS_DETAIL_DATASET, runsBy } from '../../formats';
import { batchLines, linesBytes, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest, joinUrl } from '../transport';
import { ELASTIC_INTEGRATION_DATASET, type ElasticDestinationConfig } from './config';

/** Where detail events go for a configured index and format (see the comment above). */
export function detailTarget(config: Pick<ElasticDestinationConfig, 'index' | 'format' | 'pipeline'>): { index: string; pipeline?: string; separate: boolean } {
  const integration = config.index.startsWith(`logs-${ELASTIC_INTEGRATION_DATASET}-`);
  if (!integration && config.format !== 'o365-messagetrace') return { index: config.index, ...(config.pipeline ? { pipeline: config.pipeline } : {}), separate: false };
  const stream = /^logs-[^-]+-(.+)$/.exec(config.index);
  return { index: stream ? `logs-${ECS_DETAIL_DATASET}-${stream[1]}` : `${config.index}-detail`, separate: true };
}

/** The document Elastic's message trace integration pipeline reads, around a report record. */
export function integrationDocument(record: Record<string, unknown>, acceptedDomains: readonly string[]): Record<string, unknown> {
  const received = typeof record.Received === 'string' ? receivedMs(record.Received) : Number.NaN;
  return {
    ...(Number.isNaN(received) ? {} : { '@timestamp': new Date(received).toISOString() }),
    message: JSON.stringify(record),
    ...(acceptedDomains.length ? { _conf: { local_domains: acceptedDomains.map((d) => d.toLowerCase()) } } : {}),
  };
}

interface BulkItem { status?: number; error?: { type?: string; reason?: string } }
interface BulkReply { errors?: boolean; items?: Record<string, BulkItem>[] }

export class ElasticDestination implements Destination {
  readonly type = 'elastic';
  readonly id: string;
  readonly idempotent = true;
  private readonly formatter: DestinationFormatter;
  /** The formatter of detail events: ECS in their own data stream, else the configured format. */
  private readonly detailFormatter: DestinationFormatter;
  private readonly detail: ReturnType<typeof detailTarget>;
  constructor(private readonly config: ElasticDestinationConfig, private readonly secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
    this.detail = detailTarget(config);
    this.detailFormatter = this.detail.separate && config.format !== 'ecs' ? new DestinationFormatter({ ...config, format: 'ecs' }, secrets) : this.formatter;
  }

  private async headers(): Promise<Record<string, string>> {
    const key = (await this.secrets.get(this.config.apiKey)).trim().replace(/^ApiKey\s+/i, '');
    return { authorization: `ApiKey ${key}`, 'content-type': 'application/x-ndjson', ...(this.config.gzip ? { 'content-encoding': 'gzip' } : {}) };
  }

  private bulkUrl(pipeline: string | undefined): string {
    const u = new URL(joinUrl(this.config.url, '/_bulk'));
    if (pipeline) u.searchParams.set('pipeline', pipeline);
    return u.href;
  }

  /** The index and pipeline of an event. */
  private targetOf(event: TraceEvent): { index: string; pipeline?: string } {
    const { index, pipeline } = isDetailEvent(event) ? this.detail : this.config;
    return { index, ...(pipeline ? { pipeline } : {}) };
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const formatDetail = await this.detailFormatter.get();
    // One "line" per event: action and document together, so batching never splits a pair.
    const batches = runsBy(events, (e) => JSON.stringify(this.targetOf(e))).flatMap((run) => {
      const target = this.targetOf(run.items[0]!);
      const pairs = run.items.map((e) => {
        // A detail's record: ECS in its own data stream, else the configured format (detailFormatter).
        const doc = isDetailEvent(e) ? formatDetail(e) : this.document(e, format(e));
        return `${JSON.stringify({ create: { _index: target.index, _id: e.eventId } })}\n${JSON.stringify(doc)}`;
      });
      return batchLines(pairs, this.config.maxBatchRecords, this.config.maxBatchBytes).map((lines) => ({ lines, url: this.bulkUrl(target.pipeline) }));
    });
    const headers = await this.headers();
    let delivered = 0, bytes = 0;
    for (const { lines: batch, url } of batches) {
      const raw = Buffer.from(batch.join('\n') + '\n', 'utf8');
      const reply = await httpRequest(this.id, url, { body: this.config.gzip ? gzipSync(raw) : raw, headers, timeoutMs: this.config.timeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      if (reply.status < 200 || reply.status >= 300) {
        if (reply.status === 401 || reply.status === 403) this.secrets.invalidate(this.config.apiKey);
        throw httpFailure(this.id, reply, { auth: 'Check the API key "apiKeyRef" points to (the encoded key) and that it may "create_doc" on the index.', tooLarge: 'Lower "maxBatchBytes" below http.max_content_length.' });
      }
      let body: BulkReply;
      try {
        body = JSON.parse(reply.body) as BulkReply;
      } catch {
        throw firstPartyGeneric(`Destination ${this.id} (Elastic) answered ${reply.status} with a body that is not a bulk response.`, { code: 'BulkResponseInvalid', statusCode: reply.status, excerpt: excerptOf(reply.body) });
      }
      const items = Array.isArray(body.items) ? body.items : [];
      if (items.length !== batch.length) {
        throw firstPartyGeneric(`Destination ${this.id} (Elastic) answered ${items.length} bulk items for ${batch.length} documents.`, { code: 'BulkResponseInvalid', statusCode: reply.status, excerpt: excerptOf(reply.body) });
      }
      const firstBad = items.findIndex((it) => {
        const s = Object.values(it)[0]?.status ?? 0;
        return !(s >= 200 && s < 300) && s !== 409;
      });
      if (firstBad < 0) {
        delivered += batch.length;
        bytes += linesBytes(batch);
        await ctx.onProgress?.(delivered, bytes);
        continue;
      }
      if (firstBad > 0) {
        delivered += firstBad;
        bytes += linesBytes(batch.slice(0, firstBad));
        await ctx.onProgress?.(delivered, bytes);
      }
      const item = Object.values(items[firstBad]!)[0]!;
      const status = item.status ?? 0;
      const retryable = status === 429 || status >= 500;
      const failed = items.filter((it) => { const s = Object.values(it)[0]?.status ?? 0; return !(s >= 200 && s < 300) && s !== 409; }).length;
      throw firstPartyGeneric(
        `Destination ${this.id} (Elastic) rejected ${failed} of ${batch.length} documents; the first: ${status} ${item.error?.type ?? ''}${item.error?.reason ? `: ${excerptOf(item.error.reason, 150)}` : ''}.`,
        {
          code: retryable ? 'BulkItemRetryable' : 'BulkItemRejected', statusCode: status, retryable,
          ...(retryable ? {} : { fix: 'Fix the index mapping or template (or choose "format": "ecs" for an ECS data stream), then replay the parked slice.' }),
        },
      );
    }
  }

  private document(event: TraceEvent, record: Record<string, unknown>): Record<string, unknown> {
    if (this.config.format !== 'o365-messagetrace') return record;
    return integrationDocument(record, this.config.acceptedDomainsBySource?.[event.sourceId] ?? this.config.acceptedDomains);
  }

  /** GET / (cluster info) with the API key. */
  async healthCheck(): Promise<void> {
    const headers = await this.headers();
    delete headers['content-encoding'];
    const reply = await httpRequest(this.id, joinUrl(this.config.url, '/'), { method: 'GET', headers, timeoutMs: this.config.timeoutMs });
    if (reply.status !== 200) throw httpFailure(this.id, reply, { auth: 'Check the API key "apiKeyRef" points to.' });
  }
}
