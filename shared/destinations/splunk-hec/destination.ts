/**
 * Splunk HEC. Each event is the JSON envelope {time, host, source, sourcetype, index, event}; a batch
 * is the envelopes one after another (newline separated), optionally gzipped. Authorization:
 * `Splunk <token>`. HEC answers {"text": …, "code": N}; the code decides retryable vs permanent
 * (https://help.splunk.com "Troubleshoot HTTP Event Collector", status codes table):
 *   0 success · 1 token disabled · 2 token required · 3 invalid authorization · 4 invalid token ·
 *   5 no data · 6 invalid data format · 7 incorrect index · 8 internal error · 9 server busy ·
 *   10 data channel missing · 11 invalid data channel · 12 event field required · 13 event field blank ·
 *   14 ACK disabled · 15 error in handling indexed fields · 16 query string authorization not enabled ·
 *   17 healthy · 18 unhealthy, queues full · 19 unhealthy, ack service unavailable ·
 *   20 unhealthy, queues full (ack) · 21 invalid token (ack) · 22 token disabled (ack) ·
 *   23 unhealthy, index/cluster unavailable · 24 unhealthy, ingest unavailable.
 * HEC has no idempotency key: a batch acknowledged but not recorded (crash) is sent again.
 *
 * Detail events get the sourcetype `<sourcetype>:detail` (by default
 * `ms:o365:reporting:messagetrace:detail`), so searches and add-ons written for the trace sourcetype
 * never see them (siem/splunk/TA-message-trace-collector extracts their fields), and their `time` is
 * the detail's own dateTime.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { excerptOf, firstPartyGeneric, type CollectorError } from '../../errors';
import { isDetailEvent, type TraceEvent } from '../../model/row';
import { eventTimeMs } from '../../formats';
import { batchLines, linesBytes, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest, type HttpReply } from '../transport';
import { retryAfterSeconds } from '../../outbound-http';
import type { SplunkHecDestinationConfig } from './config';

const AUTH_CODES = new Set([1, 2, 3, 4, 16, 21, 22]);
const RETRYABLE_CODES = new Set([8, 9, 18, 19, 20, 23, 24]);

interface HecReply { text?: string; code?: number; 'invalid-event-number'?: number }

/** The sourcetype of detail events: the trace sourcetype with ":detail". */
export function detailSourcetype(sourcetype: string): string {
  return `${sourcetype}:detail`;
}

export class SplunkHecDestination implements Destination {
  readonly type = 'splunk-hec';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  constructor(private readonly config: SplunkHecDestinationConfig, private readonly secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  private async headers(): Promise<Record<string, string>> {
    const token = (await this.secrets.get(this.config.token)).trim().replace(/^Splunk\s+/i, '');
    return {
      authorization: `Splunk ${token}`,
      'content-type': 'application/json',
      'x-splunk-request-channel': this.config.channel ?? randomUUID(),
      ...(this.config.gzip ? { 'content-encoding': 'gzip' } : {}),
    };
  }

  envelope(event: TraceEvent, record: Record<string, unknown>): Record<string, unknown> {
    return {
      time: eventTimeMs(event) / 1000,
      host: this.config.host ?? event.tenantId,
      source: this.config.source ?? `mtc:${event.sourceId}`,
      sourcetype: isDetailEvent(event) ? detailSourcetype(this.config.sourcetype) : this.config.sourcetype,
      ...(this.config.index ? { index: this.config.index } : {}),
      event: record,
    };
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const lines = events.map((e) => JSON.stringify(this.envelope(e, format(e))));
    const batches = batchLines(lines, this.config.maxBatchRecords, this.config.maxBatchBytes);
    const headers = await this.headers();
    let delivered = 0, bytes = 0;
    for (const batch of batches) {
      const raw = Buffer.from(batch.join('\n'), 'utf8');
      const reply = await httpRequest(this.id, this.config.url, {
        body: this.config.gzip ? gzipSync(raw) : raw, headers, timeoutMs: this.config.timeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (reply.status >= 200 && reply.status < 300) {
        delivered += batch.length;
        bytes += linesBytes(batch);
        await ctx.onProgress?.(delivered, bytes);
        continue;
      }
      const hec = parseHec(reply.body);
      // HEC indexes the events before a malformed one and names the malformed one's index.
      const accepted = hec?.code === 6 && typeof hec['invalid-event-number'] === 'number' ? Math.min(Math.max(0, hec['invalid-event-number']), batch.length) : 0;
      if (accepted > 0) {
        delivered += accepted;
        bytes += linesBytes(batch.slice(0, accepted));
        await ctx.onProgress?.(delivered, bytes);
      }
      if (hec?.code === 2 || hec?.code === 4 || hec?.code === 3) this.secrets.invalidate(this.config.token);
      throw this.failure(reply, hec);
    }
  }

  private failure(reply: HttpReply, hec: HecReply | undefined): CollectorError {
    if (!hec || typeof hec.code !== 'number') return httpFailure(this.id, reply, { auth: 'Check the HEC token the "tokenRef" points to, and that the token is enabled.' });
    const code = hec.code;
    const what = `Destination ${this.id} (Splunk HEC) rejected a batch: code ${code}, "${excerptOf(hec.text ?? '', 100)}"`;
    const base = { statusCode: reply.status, excerpt: excerptOf(reply.body), code: `Hec${code}` };
    if (AUTH_CODES.has(code)) return firstPartyGeneric(`${what}.`, { ...base, retryable: false, fix: 'Check the HEC token the "tokenRef" points to, that it is enabled, and that HEC is on ("All Tokens" enabled in Global Settings).' });
    if (code === 7) return firstPartyGeneric(`${what}.`, { ...base, retryable: false, fix: 'Set "index" to an index the HEC token may write to (its allowed indexes), or remove "index" to use the token\'s default.' });
    if (code === 10 || code === 11 || code === 14) return firstPartyGeneric(`${what}.`, { ...base, retryable: false, fix: 'The token has indexer acknowledgement on: set "channel" to a GUID, or turn acknowledgement off for this token.' });
    if (RETRYABLE_CODES.has(code) || reply.status === 503 || reply.status >= 500) {
      const ra = retryAfterSeconds(reply.headers);
      return firstPartyGeneric(`${what}; retrying.`, { ...base, retryable: true, ...(ra !== undefined ? { retryAfterSec: ra } : {}) });
    }
    if (reply.status === 413) return firstPartyGeneric(`${what}.`, { ...base, retryable: false, fix: 'Lower "maxBatchBytes" below the HEC max_content_length.' });
    return firstPartyGeneric(`${what}.`, { ...base, retryable: false });
  }

  /** GET /services/collector/health: code 17 "HEC is healthy". */
  async healthCheck(): Promise<void> {
    const u = new URL(this.config.url);
    u.pathname = u.pathname.replace(/\/services\/collector.*$/, '/services/collector/health');
    const headers = await this.headers();
    delete headers['content-encoding'];
    const reply = await httpRequest(this.id, u.href, { method: 'GET', headers, timeoutMs: this.config.timeoutMs });
    if (reply.status !== 200) throw this.failure(reply, parseHec(reply.body));
  }
}

function parseHec(body: string): HecReply | undefined {
  try {
    const v = JSON.parse(body) as unknown;
    return v && typeof v === 'object' ? (v as HecReply) : undefined;
  } catch {
    return undefined;
  }
}
