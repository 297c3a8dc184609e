/**
 * Google SecOps Ingestion API (v2 `unstructuredlogentries:batchCreate`). One request per batch:
 * {customer_id, log_type, namespace?, labels?: [{key, value}], entries: [{log_text, ts_rfc3339}]}
 * with `Authorization: Bearer <service account token>`; the whole request stays under 1 MB (the API's
 * limit), an entry that alone would not fit is refused up front with a permanent error. Each
 * `log_text` is one formatted record as JSON (by default the legacy report record, which Google's
 * `OFFICE_365_MESSAGETRACE` parser maps to UDM). Answers: 200 accepted; 401: the token is renewed
 * once, then permanent; 403 PERMISSION_DENIED and other 4xx permanent; 429 RESOURCE_EXHAUSTED, 408
 * and 5xx retryable. No idempotency key. Health check: GET /v2/logtypes.
 *
 * Detail events (one getDetailsByRecipient event each): Google has no parser for them, and its
 * OFFICE_365_MESSAGETRACE parser would read one as one more EMAIL_TRANSACTION. So with that log type
 * (the default) they are sent as UDM events (`POST /v2/udmevents:batchCreate`, {customer_id, events},
 * same token, same 1 MB limit), normalised by shared/formats/udm/detail.ts after the privacy rules;
 * the namespace goes on their principal and target, the labels on metadata.ingestion_labels. With
 * another log type (a custom one, with its own parser) they are unstructured entries of that log
 * type in the configured format, like the rows. A batch is sent as runs of one kind, in order.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { excerptOf, firstPartyGeneric, type CollectorError } from '../../errors';
import { isDetailEvent, type TraceEvent } from '../../model/row';
import { applyPrivacy, eventTimeMs, runsBy } from '../../formats';
import { toDetailUdm } from '../../formats/udm/detail';
import { deliverInOrder, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest, type HttpReply } from '../transport';
import { GOOGLE_SECOPS_MESSAGETRACE_LOG_TYPE, GOOGLE_SECOPS_SCOPE, type GoogleSecOpsDestinationConfig } from './config';
import { ServiceAccountTokens } from './service-account';

interface GoogleError { error?: { code?: number; message?: string; status?: string } }

export class GoogleSecOpsDestination implements Destination {
  readonly type = 'google-secops';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  private readonly tokens: ServiceAccountTokens;
  constructor(private readonly config: GoogleSecOpsDestinationConfig, private readonly secrets: SecretSource, options: { now?: () => number } = {}) {
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

  /** The body of a UDM request around serialised events. */
  private udmEnvelope(events: string[]): string {
    return `${JSON.stringify({ customer_id: this.config.customerId }).slice(0, -1)},"events":[${events.join(',')}]}`;
  }

  /** Detail events go as UDM events when the log type is Google's message trace parser's (see above). */
  private get detailsAsUdm(): boolean {
    return this.config.logType === GOOGLE_SECOPS_MESSAGETRACE_LOG_TYPE;
  }

  /** A detail event as a UDM event, after the privacy rules (`key`: the resolved hash key), with the namespace and labels. */
  private udmOf(event: TraceEvent, key: string | undefined): Record<string, unknown> {
    const udm = toDetailUdm(applyPrivacy(event, this.config.privacy, key));
    const labels = Object.entries(this.config.labels).map(([k, value]) => ({ key: k, value }));
    if (labels.length) (udm.metadata as Record<string, unknown>).ingestion_labels = labels;
    if (this.config.namespace) for (const noun of ['principal', 'target'] as const) udm[noun] = { ...(udm[noun] as Record<string, unknown> | undefined), namespace: this.config.namespace };
    return udm;
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const tooLarge = (e: TraceEvent) => firstPartyGeneric(`Destination ${this.id} (Google SecOps): event ${e.eventId} alone is larger than a request may be (${this.config.maxBatchBytes} bytes).`, {
      code: 'EntryTooLarge', retryable: false, fix: 'Drop large fields with "privacy": {"drop": ["subject"]}, or raise "maxBatchBytes" up to 1000000.',
    });
    const runs = runsBy(events, (e) => (isDetailEvent(e) && this.detailsAsUdm ? 'udm' : 'log') as 'udm' | 'log');
    const key = runs.some((r) => r.key === 'udm') && this.config.privacy.hashKey ? await this.secrets.get(this.config.privacy.hashKey) : undefined;
    const batches: { kind: 'udm' | 'log'; entries: string[] }[] = [];
    for (const run of runs) {
      const overhead = Buffer.byteLength(run.key === 'udm' ? this.udmEnvelope([]) : this.envelope([]));
      const entries: string[] = [];
      for (const e of run.items) {
        const entry = run.key === 'udm'
          ? JSON.stringify(this.udmOf(e, key))
          : JSON.stringify({ log_text: JSON.stringify(format(e)), ts_rfc3339: new Date(eventTimeMs(e)).toISOString() });
        if (overhead + Buffer.byteLength(entry) > this.config.maxBatchBytes) throw tooLarge(e);
        entries.push(entry);
      }
      let cur: string[] = [];
      let bytes = overhead;
      for (const entry of entries) {
        const size = Buffer.byteLength(entry) + 1;
        if (cur.length && (cur.length >= this.config.maxBatchRecords || bytes + size > this.config.maxBatchBytes)) {
          batches.push({ kind: run.key, entries: cur });
          cur = [];
          bytes = overhead;
        }
        cur.push(entry);
        bytes += size;
      }
      if (cur.length) batches.push({ kind: run.key, entries: cur });
    }
    await deliverInOrder(batches, (b) => b.entries.length, ctx, async (batch) => {
      const url = `${this.config.url}/v2/${batch.kind === 'udm' ? 'udmevents' : 'unstructuredlogentries'}:batchCreate`;
      const raw = Buffer.from(batch.kind === 'udm' ? this.udmEnvelope(batch.entries) : this.envelope(batch.entries), 'utf8');
      const body = this.config.gzip ? gzipSync(raw) : raw;
      let reply = await this.post(url, body, ctx.signal);
      if (reply.status === 401) {
        this.tokens.invalidate();
        reply = await this.post(url, body, ctx.signal);
      }
      if (reply.status >= 200 && reply.status < 300) return;
      throw this.failure(reply, batch.kind);
    });
  }

  private async post(url: string, body: Buffer, signal?: AbortSignal): Promise<HttpReply> {
    const headers = { authorization: `Bearer ${await this.tokens.token(signal)}`, 'content-type': 'application/json', ...(this.config.gzip ? { 'content-encoding': 'gzip' } : {}) };
    return httpRequest(this.id, url, { body, headers, timeoutMs: this.config.timeoutMs, ...(signal ? { signal } : {}) });
  }

  private failure(reply: HttpReply, kind: 'udm' | 'log' = 'log'): CollectorError {
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
    if (reply.status === 400 && status === 'INVALID_ARGUMENT' && kind === 'udm') {
      return firstPartyGeneric(`Destination ${this.id} (Google SecOps) rejected a batch of detail events (UDM) as invalid: ${excerptOf(g.error?.message ?? '', 200)}.`, {
        code: 'InvalidArgument', statusCode: 400, retryable: false,
        fix: 'Check "namespace" and "labels"; if the message names a UDM field, report it (shared/formats/udm/detail.ts maps the details); then replay the parked slice.',
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
