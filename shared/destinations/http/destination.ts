/**
 * `http` destination: NDJSON over HTTPS POST, optional gzip, batches bounded in bytes and records.
 * Header values may be secret references. Plain http only to loopback and only when opted into
 * (validated in the config). 2xx is success; 408, 429 and 5xx are retryable; other 4xx are permanent.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import type { HttpDestinationConfig } from './config';
import type { TraceEvent } from '../../model/row';
import { batchLines, deliverInOrder, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest } from '../transport';

export class HttpDestination implements Destination {
  readonly type = 'http';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  constructor(private readonly config: HttpDestinationConfig, private readonly secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
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
    const format = await this.formatter.get();
    const batches = batchLines(events.map((e) => JSON.stringify(format(e))), this.config.maxBatchRecords, this.config.maxBatchBytes);
    const headers = await this.headers();
    await deliverInOrder(batches, (b) => b.length, ctx, async (batch) => {
      const raw = Buffer.from(batch.join('\n') + '\n', 'utf8');
      const reply = await httpRequest(this.id, this.config.url, {
        body: this.config.gzip ? gzipSync(raw) : raw,
        headers: { ...headers, 'x-mtc-source': ctx.sourceId, 'x-mtc-slice': ctx.sliceId, 'x-mtc-page': String(ctx.page) },
        timeoutMs: this.config.timeoutMs,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (reply.status < 200 || reply.status >= 300) throw httpFailure(this.id, reply);
    });
  }
}
