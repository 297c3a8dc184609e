/**
 * `http` destination: NDJSON over HTTPS POST, optional gzip, batches bounded in bytes and records.
 * Header values may be secret references. Plain http only to loopback and only when opted into
 * (validated in the config). 2xx is success; 408, 429 and 5xx are retryable; other 4xx are permanent.
 */
import { gzipSync } from 'node:zlib';
import type { HttpDestinationConfig } from '../config/types';
import type { SecretSource } from '../auth/secrets';
import { excerptOf, firstPartyGeneric } from '../errors';
import { loadGot } from '../api/http';
import type { TraceEvent } from '../model/row';
import { batchLines, type Destination, type SendContext } from './destination';

export class HttpDestination implements Destination {
  readonly type = 'http';
  readonly id: string;
  constructor(
    private readonly config: HttpDestinationConfig,
    private readonly secrets: SecretSource,
  ) {
    this.id = config.id;
  }

  private async headers(): Promise<Record<string, string>> {
    const out: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    for (const [name, value] of Object.entries(this.config.headers)) {
      out[name.toLowerCase()] = typeof value === 'string' ? value : await this.secrets.get(value.secret);
    }
    if (this.config.gzip) out['content-encoding'] = 'gzip';
    return out;
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const lines = events.map((e) => JSON.stringify(e));
    const batches = batchLines(lines, this.config.maxBatchRecords, this.config.maxBatchBytes);
    const headers = await this.headers();
    const got = await loadGot();
    let delivered = 0;
    for (const batch of batches) {
      const raw = Buffer.from(batch.join('\n') + '\n', 'utf8');
      const body = this.config.gzip ? gzipSync(raw) : raw;
      let response;
      try {
        response = await got.post(this.config.url, {
          body,
          headers: { ...headers, 'x-mtc-source': ctx.sourceId, 'x-mtc-slice': ctx.sliceId, 'x-mtc-page': String(ctx.page) },
          timeout: { request: this.config.timeoutMs },
          retry: { limit: 0 },
          throwHttpErrors: false,
          followRedirect: false,
          responseType: 'text',
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'NetworkError';
        throw firstPartyGeneric(`Destination ${this.id} could not be reached (${code}).`, { code, cause: err });
      }
      const status = response.statusCode;
      if (status < 200 || status >= 300) {
        const retryable = status === 408 || status === 429 || status >= 500;
        throw firstPartyGeneric(`Destination ${this.id} answered ${status}.`, {
          code: `Http${status}`, statusCode: status, retryable, excerpt: excerptOf(response.body),
        });
      }
      delivered += batch.length;
      await ctx.onProgress?.(delivered);
    }
  }
}
