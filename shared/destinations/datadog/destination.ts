/**
 * Datadog Logs API v2 (POST <intake>/api/v2/logs): a JSON array of entries
 * {ddsource, ddtags, hostname, service, message}; header DD-API-KEY; gzip recommended.
 * Limits per request: 5 MB uncompressed, 1000 entries; per entry 1 MB (larger ones are truncated
 * by Datadog, so the collector rejects them up front with a permanent error instead of silently
 * losing data). Status: 202 accepted; 400 permanent; 401/403 API key (permanent); 408, 429, 5xx
 * retryable; 413 permanent (lower maxBatchBytes). The event time is in `message` (Datadog only
 * accepts log timestamps up to 18 h old, so the entry carries none and Datadog stamps intake time;
 * remap `received` as the date in a log pipeline if wanted). No idempotency key.
 * Every entry is tagged with its kind, `mtc_kind:trace` or `mtc_kind:detail` (a detail event: one
 * getDetailsByRecipient event of a row), so a facet or an index filter tells them apart.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { firstPartyGeneric } from '../../errors';
import type { TraceEvent } from '../../model/row';
import { eventKindOf } from '../../formats';
import { deliverInOrder, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest } from '../transport';
import { DATADOG_LIMITS, type DatadogDestinationConfig } from './config';

export class DatadogDestination implements Destination {
  readonly type = 'datadog';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  constructor(private readonly config: DatadogDestinationConfig, private readonly secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const entries = events.map((e) => {
      const tags = [...this.config.ddtags, `tenant_id:${e.tenantId}`, `mtc_source:${e.sourceId}`, `mtc_kind:${eventKindOf(e)}`].join(',');
      const s = JSON.stringify({ ddsource: this.config.ddsource, ddtags: tags, hostname: e.tenantId, service: this.config.service, message: JSON.stringify(format(e)) });
      if (Buffer.byteLength(s) > DATADOG_LIMITS.entryBytes) {
        throw firstPartyGeneric(`Destination ${this.id} (Datadog): event ${e.eventId} is larger than Datadog's 1 MB per log entry.`, {
          code: 'EntryTooLarge', retryable: false, fix: 'Drop large fields with "privacy": {"drop": ["subject"]} or use another format.',
        });
      }
      return s;
    });
    // Batches bounded by records and bytes of the JSON array ("[" + entries joined by "," + "]").
    const batches: string[][] = [];
    let cur: string[] = [];
    let bytes = 2;
    for (const s of entries) {
      const size = Buffer.byteLength(s) + 1;
      if (cur.length && (cur.length >= this.config.maxBatchRecords || bytes + size > this.config.maxBatchBytes)) {
        batches.push(cur);
        cur = [];
        bytes = 2;
      }
      cur.push(s);
      bytes += size;
    }
    if (cur.length) batches.push(cur);
    const headers = {
      'dd-api-key': (await this.secrets.get(this.config.apiKey)).trim(),
      'content-type': 'application/json',
      ...(this.config.gzip ? { 'content-encoding': 'gzip' } : {}),
    };
    await deliverInOrder(batches, (b) => b.length, ctx, async (batch) => {
      const raw = Buffer.from(`[${batch.join(',')}]`, 'utf8');
      const reply = await httpRequest(this.id, this.config.url, { body: this.config.gzip ? gzipSync(raw) : raw, headers, timeoutMs: this.config.timeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      if (reply.status >= 200 && reply.status < 300) return;
      if (reply.status === 401 || reply.status === 403) this.secrets.invalidate(this.config.apiKey);
      throw httpFailure(this.id, reply, {
        auth: `Check the API key "apiKeyRef" points to, and that it belongs to the "${this.config.site}" site.`,
        tooLarge: 'Lower "maxBatchBytes" (Datadog accepts 5 MB of uncompressed data per request).',
      });
    });
  }

  /** GET https://api.<site>/api/v1/validate with the API key ({"valid": true}); skipped when a custom `url` is set. */
  async healthCheck(): Promise<void> {
    const intake = new URL(this.config.url);
    if (!intake.hostname.startsWith('http-intake.logs.')) return;
    const api = `https://api.${intake.hostname.slice('http-intake.logs.'.length)}/api/v1/validate`;
    const reply = await httpRequest(this.id, api, { method: 'GET', headers: { 'dd-api-key': (await this.secrets.get(this.config.apiKey)).trim() }, timeoutMs: this.config.timeoutMs });
    if (reply.status !== 200) throw httpFailure(this.id, reply, { auth: `Check the API key "apiKeyRef" points to, and that it belongs to the "${this.config.site}" site.` });
  }
}
