/**
 * Sumo Logic HTTP Logs Source: POST of newline-delimited records, gzip (Content-Encoding: gzip),
 * metadata headers X-Sumo-Category, X-Sumo-Name, X-Sumo-Host and X-Sumo-Fields. Sumo recommends
 * 100 KB to 1 MB of uncompressed data per request, hence maxBatchBytes ≤ 1 MB. 200 is success;
 * 429 (throttled) and 5xx are retryable; 401/403/404 mean the source URL is wrong or the source was
 * deleted (permanent, fix the secret); 413 is permanent (lower maxBatchBytes).
 * Sumo has no idempotency key. The URL is a secret: it never appears in an error.
 * Detail events are sent in requests of their own with the category `<category>/detail` (when a
 * category is set), so `_sourceCategory` tells them apart; a batch is sent as runs of one kind, in order.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { excerptOf, firstPartyGeneric } from '../../errors';
import type { TraceEvent } from '../../model/row';
import { eventKindOf, runsBy, type EventKind } from '../../formats';
import { batchLines, deliverInOrder, type Destination, type SendContext } from '../destination';
import { urlProblem } from '../config-common';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest } from '../transport';
import type { SumoLogicDestinationConfig } from './config';

export class SumoLogicDestination implements Destination {
  readonly type = 'sumo-logic';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  constructor(private readonly config: SumoLogicDestinationConfig, private readonly secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  private async url(): Promise<string> {
    const url = (await this.secrets.get(this.config.url)).trim();
    const problem = urlProblem(url, this.config.allowInsecureLoopback);
    if (problem) {
      throw firstPartyGeneric(`Destination ${this.id}: the secret "urlRef" points to ${problem.replace(/^(is|must|uses)/, 'a value that $1')}.`, {
        code: 'InvalidSourceUrl', retryable: false, fix: 'Store the HTTP Source address shown by Sumo Logic (https://endpoint…sumologic.com/receiver/v1/http/…) in the secret.',
      });
    }
    return url;
  }

  headers(kind: EventKind = 'trace'): Record<string, string> {
    const c = this.config;
    const fields = Object.entries(c.fields).map(([k, v]) => `${k}=${v}`).join(',');
    return {
      'content-type': 'text/plain',
      ...(c.gzip ? { 'content-encoding': 'gzip' } : {}),
      ...(c.category ? { 'x-sumo-category': kind === 'detail' ? `${c.category}/detail` : c.category } : {}),
      ...(c.name ? { 'x-sumo-name': c.name } : {}),
      ...(c.host ? { 'x-sumo-host': c.host } : {}),
      ...(fields ? { 'x-sumo-fields': fields } : {}),
    };
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const url = await this.url();
    const format = await this.formatter.get();
    const batches = runsBy(events, eventKindOf).flatMap((run) => batchLines(run.items.map((e) => JSON.stringify(format(e))), this.config.maxBatchRecords, this.config.maxBatchBytes)
      .map((lines) => ({ lines, headers: this.headers(run.key) })));
    await deliverInOrder(batches, (b) => b.lines.length, ctx, async ({ lines: batch, headers }) => {
      const raw = Buffer.from(batch.join('\n') + '\n', 'utf8');
      const reply = await httpRequest(this.id, url, { body: this.config.gzip ? gzipSync(raw) : raw, headers, timeoutMs: this.config.timeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      if (reply.status >= 200 && reply.status < 300) return;
      if (reply.status === 404) {
        this.secrets.invalidate(this.config.url);
        throw firstPartyGeneric(`Destination ${this.id} (Sumo Logic) answered 404: the HTTP Source does not exist.`, {
          code: 'SourceNotFound', statusCode: 404, retryable: false, excerpt: excerptOf(reply.body), fix: 'The source was deleted or its URL regenerated: store the current HTTP Source address in the secret "urlRef" points to.',
        });
      }
      if (reply.status === 401 || reply.status === 403) this.secrets.invalidate(this.config.url);
      throw httpFailure(this.id, reply, { auth: 'Store the current HTTP Source address in the secret "urlRef" points to.', tooLarge: 'Lower "maxBatchBytes" (Sumo accepts up to 1 MB of uncompressed data per request).' });
    });
  }

  /** Sumo Logic HTTP Sources have no health endpoint: the check resolves the secret and validates the address. */
  async healthCheck(): Promise<void> {
    await this.url();
  }
}
