/**
 * `file` destination, for local runs: NDJSON files in a folder, one file per slice page (and batch),
 * written atomically under a deterministic name, so a repeated write replaces rather than duplicates.
 * Layout: <directory>/<sourceId>/<YYYY-MM-DD of the slice start>/<sliceId>.p<page>.<eventId of the batch's first event>.ndjson
 * (named by content, not by batch number, so a retry that resumes mid-page never overwrites a delivered batch).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecretSource } from '../../auth/secrets';
import type { FileDestinationConfig } from './config';
import { firstPartyGeneric } from '../../errors';
import type { TraceEvent } from '../../model/row';
import { batchLines, linesBytes, type Destination, type SendContext } from '../destination';
import { DestinationFormatter } from '../formatting';

export class FileDestination implements Destination {
  readonly type = 'file';
  readonly id: string;
  readonly idempotent = true;
  private readonly formatter: DestinationFormatter;
  constructor(private readonly config: FileDestinationConfig, secrets: SecretSource) {
    this.id = config.id;
    this.formatter = new DestinationFormatter(config, secrets);
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const day = /-(\d{15})-/.exec(ctx.sliceId)?.[1];
    const dayName = day ? new Date(Number(day)).toISOString().slice(0, 10) : 'unknown';
    const dir = path.resolve(this.config.directory, ctx.sourceId, dayName);
    const format = await this.formatter.get();
    const batches = batchLines(events.map((e) => JSON.stringify(format(e))), this.config.maxBatchRecords, Number.MAX_SAFE_INTEGER);
    let delivered = 0, bytes = 0;
    try {
      await mkdir(dir, { recursive: true });
      for (const batch of batches) {
        const first = events[delivered]!.eventId;
        const file = path.join(dir, `${ctx.sliceId}.p${ctx.page}.${first.slice(0, 16)}.ndjson`);
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, batch.join('\n') + '\n');
        await rename(tmp, file);
        delivered += batch.length;
        bytes += linesBytes(batch);
        await ctx.onProgress?.(delivered, bytes);
      }
    } catch (err) {
      if ((err as { type?: string }).type) throw err;
      throw firstPartyGeneric(`Destination ${this.id} could not write to ${dir}: ${(err as Error).message}`, { code: 'FileWriteFailed', cause: err });
    }
  }
}
