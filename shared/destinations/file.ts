/**
 * `file` destination, for local runs: NDJSON files in a folder, one file per slice page (and batch),
 * written atomically under a deterministic name, so a repeated write replaces rather than duplicates.
 * Layout: <directory>/<sourceId>/<YYYY-MM-DD of the slice start>/<sliceId>.p<page>.b<batch>.ndjson
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FileDestinationConfig } from '../config/types';
import { firstPartyGeneric } from '../errors';
import type { TraceEvent } from '../model/row';
import { batchLines, type Destination, type SendContext } from './destination';

export class FileDestination implements Destination {
  readonly type = 'file';
  readonly id: string;
  constructor(private readonly config: FileDestinationConfig) {
    this.id = config.id;
  }

  async send(events: TraceEvent[], ctx: SendContext): Promise<void> {
    if (!events.length) return;
    const day = /-(\d{15})-/.exec(ctx.sliceId)?.[1];
    const dayName = day ? new Date(Number(day)).toISOString().slice(0, 10) : 'unknown';
    const dir = path.resolve(this.config.directory, ctx.sourceId, dayName);
    const batches = batchLines(events.map((e) => JSON.stringify(e)), this.config.maxBatchRecords, Number.MAX_SAFE_INTEGER);
    let delivered = 0;
    try {
      await mkdir(dir, { recursive: true });
      for (const [i, batch] of batches.entries()) {
        const file = path.join(dir, `${ctx.sliceId}.p${ctx.page}.b${i}.ndjson`);
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, batch.join('\n') + '\n');
        await rename(tmp, file);
        delivered += batch.length;
        await ctx.onProgress?.(delivered);
      }
    } catch (err) {
      if ((err as { type?: string }).type) throw err;
      throw firstPartyGeneric(`Destination ${this.id} could not write to ${dir}: ${(err as Error).message}`, { code: 'FileWriteFailed', cause: err });
    }
  }
}
