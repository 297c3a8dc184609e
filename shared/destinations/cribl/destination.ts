/**
 * Cribl HTTP/S (Bulk API) Source, Cribl HTTP event API (`<base>/cribl/_bulk`): one JSON object per
 * line with `_time` (seconds since the epoch), `_raw` (the record as JSON text; parse it in a Cribl
 * pipeline) and the metadata fields `host`, `source` and `sourcetype`. Auth: `Authorization: <token>`.
 * gzip with Content-Encoding. 2xx is success; 429 and 5xx retryable; 401 permanent; 413 permanent.
 * Cribl documents a 2 MB request limit for this endpoint in older versions, hence the default.
 * Detail events carry the sourcetype `o365:messagetrace:detail` (rows `o365:messagetrace`), so a Cribl
 * route tells them apart, and `_time` is the detail's own dateTime.
 */
import { gzipSync } from 'node:zlib';
import type { SecretSource } from '../../auth/secrets';
import { isDetailEvent, type TraceEvent } from '../../model/row';
import { eventTimeMs } from '../../formats';
import { batchLines, deliverInOrder, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';
import { httpFailure, httpRequest } from '../transport';
import type { CriblDestinationConfig } from './config';

export const CRIBL_SOURCETYPE = 'o365:messagetrace';
export const CRIBL_DETAIL_SOURCETYPE = 'o365:messagetrace:detail';

export class CriblDestination implements Destination {
  readonly type = 'cribl';
  readonly id: string;
  private readonly formatter: DestinationFormatter;
  constructor(private readonly config: CriblDestinationConfig, private readonly secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  private async headers(): Promise<Record<string, string>> {
    return {
      'content-type': 'application/json',
      ...(this.config.token ? { authorization: (await this.secrets.get(this.config.token)).trim() } : {}),
      ...(this.config.gzip ? { 'content-encoding': 'gzip' } : {}),
    };
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const format = await this.formatter.get();
    const lines = events.map((e) => JSON.stringify({
      _time: eventTimeMs(e) / 1000,
      _raw: JSON.stringify(format(e)),
      host: e.tenantId,
      source: `mtc:${e.sourceId}`,
      sourcetype: isDetailEvent(e) ? CRIBL_DETAIL_SOURCETYPE : CRIBL_SOURCETYPE,
    }));
    const batches = batchLines(lines, this.config.maxBatchRecords, this.config.maxBatchBytes);
    const headers = await this.headers();
    await deliverInOrder(batches, (b) => b.length, ctx, async (batch) => {
      const raw = Buffer.from(batch.join('\n') + '\n', 'utf8');
      const reply = await httpRequest(this.id, this.config.url, { body: this.config.gzip ? gzipSync(raw) : raw, headers, timeoutMs: this.config.timeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      if (reply.status >= 200 && reply.status < 300) return;
      if ((reply.status === 401 || reply.status === 403) && this.config.token) this.secrets.invalidate(this.config.token);
      throw httpFailure(this.id, reply, { auth: 'Set "tokenRef" to a secret holding one of the source\'s auth tokens.' });
    });
  }
}
