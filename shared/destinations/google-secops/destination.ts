/**
 * Google SecOps Ingestion API (v2 `unstructuredlogentries:batchCreate`). One request per batch:
 * {customer_id, log_type, namespace?, labels?: [{key, value}], entries: [{log_text, ts_rfc3339}]}
 * with `Authorization: Bearer <service account token>`; the whole request stays under 1 MB (the API's
 * limit), an entry that alone would not fit is refused up front with a permanent error. Each
 * `log_text` is one formatted record as JSON (by default the legacy report record, which Google's
 * `OFFICE_365_MESSAGETRACE` parser maps to UDM). Answers: 200 accepted; 401: the token is renewed
 * once, then permanent; 403 PERMISSION_DENIED and other 4xx permanent; 429 RESOURCE_EXHAUSTED, 408
 * and 5xx retryable. No idempotency key. Health check: GET /v2/logtypes.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { excerptOf, firstPartyGeneric, type CollectorError } from '../../errors';
import { receivedMs, type TraceEvent } from '../../model/row';
import { deliverInOrder, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest, type HttpReply } from '../transport';
import { GOOGLE_SECOPS_SCOPE, type GoogleSecOpsDestinationConfig } from './config';
import { ServiceAccountTokens } from './service-account';

interface GoogleError { error?: { code?: number; message?: string; status?: string } }

export class GoogleSecOpsDestination implements Destination {
  readonly type = 'google-secops';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  private readonly tokens: ServiceAccountTokens;
  constructor(private readonly config: GoogleSecOpsDestinationConfig, secrets: SecretSource, options: { now?: () => number } = {}) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
    this.tokens = new ServiceAccountTokens(config.id, secrets, config.serviceAccount, GOOGLE_SECOPS_SCOPE, { allowInsecureLoopback: config.allowInsecureLoopback, timeoutMs: config.timeoutMs, ...(options.now ? { now: options.now } : {}) });
  }

  /** The request body around serialised entries (so batching can measure it exactly). */
  private envelope(entries: string[]): string {
    const head: Record<string, unknown> = { customer_id: this.config.customerId, log_type: this.config.logType };
    if (this.config.namespace) head.namespace = this.config.namespace;
    const labels = Object.entries(this.config.labels).map(([key, value]) => ({ key, value }));
    if (labels.length) head.labels = labels;
    return `${JSON.stringify(head).slice(0, -1)},"entries":[${entries.join(',')}]}`;
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const overhead = Buffer.byteLength(this.envelope([]));
    const entries = events.map((e) => {
      const ms = receivedMs(e.row.receivedDateTime);
      const entry = JSON.stringify({ log_text: JSON.stringify(format(e)), ts_rfc3339: new Date(Number.isNaN(ms) ? Date.parse(e.collectedAt) : ms).toISOString() });
      if (overhead + Buffer.byteLength(entry) > this.config.maxBatchBytes) {
        throw firstPartyGeneric(`Destination ${this.id} (Google SecOps): event ${e.eventId} alone is larger than a request may be (${this.config.maxBatchBytes} bytes).`, {
          code: 'EntryTooLarge', retryable: false, fix: 'Drop large fields with "privacy": {"drop": ["subject"]}, or raise "maxBatchBytes" up to 1000000.',
        });
      }
      return entry;
    });
    const batches: string[][] = [];
    let cur: string[] = [];
    let bytes = overhead;
    for (const entry of entries) {
      const size = Buffer.byteLength(entry) + 1;
      if (cur.length && (cur.length >= this.config.maxBatchRecords || bytes + size > this.config.maxBatchBytes)) {
        batches.push(cur);
        cur = [];
        bytes = overhead;
      }
      cur.push(entry);
      bytes += size;
    }
    if (cur.length) batches.push(cur);
    const url = `${this.config.url}/v2/unstructuredlogentries:batchCreate`;
    await deliverInOrder(batches, (b) => b.length, ctx, async (batch) => {
      const raw = Buffer.from(this.envelope(batch), 'utf8');
      const body = this.config.gzip ? gzipSync(raw) : raw;
      let reply = await this.post(url, body, ctx.signal);
      if (reply.status === 401) {
        this.tokens.invalidate();
        reply = await this.post(url, body, ctx.signal);
      }
      if (reply.status >= 200 && reply.status < 300) return;
      throw this.failure(reply);
    });
  }

  private async post(url: string, body: Buffer, signal?: AbortSignal): Promise<HttpReply> {
    const headers = { authorization: `Bearer ${await this.tokens.token(signal)}`, 'content-type': 'application/json', ...(this.config.gzip ? { 'content-encoding': 'gzip' } : {}) };
    return httpRequest(this.id, url, { body, headers, timeoutMs: this.config.timeoutMs, ...(signal ? { signal } : {}) });
  }

  private failure(reply: HttpReply): CollectorError {
    let g: GoogleError = {};
    try {
      g = JSON.parse(reply.body) as GoogleError;
    } catch {
      // not a Google error body: the generic rule applies
    }
    const status = g.error?.status;
    if (reply.status === 403 || status === 'PERMISSION_DENIED') {
      return firstPartyGeneric(`Destination ${this.id} (Google SecOps) was refused (403 ${status ?? ''}).`.replace(' )', ')'), {
        code: 'DestinationAuthFailed', statusCode: reply.status, retryable: false, excerpt: excerptOf(g.error?.message ?? reply.body),
        fix: `Check that "customerId" is your instance's customer id and that the service account may ingest into it (the Ingestion API is enabled for its project, and it has the ingestion role), in the "${this.config.region}" region.`,
      });
    }
    if (reply.status === 400 && status === 'INVALID_ARGUMENT') {
      return firstPartyGeneric(`Destination ${this.id} (Google SecOps) rejected a batch as invalid: ${excerptOf(g.error?.message ?? '', 200)}.`, {
        code: 'InvalidArgument', statusCode: 400, retryable: false,
        fix: `Check "logType" ("${this.config.logType}" must be a log type of your instance), "namespace" and "labels"; then replay the parked slice.`,
      });
    }
    return httpFailure(this.id, reply, {
      auth: 'Check the service account key "serviceAccountRef" points to.',
      tooLarge: 'Lower "maxBatchBytes" (the Ingestion API takes at most 1 MB per request).',
    });
  }

  /** GET /v2/logtypes with the token: the credential works and the endpoint answers. */
  async healthCheck(): Promise<void> {
    const reply = await httpRequest(this.id, `${this.config.url}/v2/logtypes`, {
      method: 'GET', headers: { authorization: `Bearer ${await this.tokens.token()}` }, timeoutMs: this.config.timeoutMs,
    });
    if (reply.status !== 200) throw this.failure(reply);
  }
}
