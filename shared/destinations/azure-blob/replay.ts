/**
 * Replay: re-sends the events of a blob archive (written by an `azure-blob` destination with format
 * "raw" and no privacy rules) to any destination, page by page in name order (source, day, slice,
 * page), with the archived slice id and page number, so the receiving destination sees the same
 * batches as during collection. Used by `npm run replay` (local/replay.ts).
 */
import { gunzipSync } from 'node:zlib';
import { firstPartyGeneric } from '../../errors';
import type { TraceEvent } from '../../model/row';
import type { Destination } from '../destination';
import type { AzureBlobDestination } from './destination';
import type { AzureBlobDestinationConfig } from './config';
import { parseEventsBlobName } from './names';

export interface ReplayOptions {
  archive: AzureBlobDestination;
  archiveConfig: AzureBlobDestinationConfig;
  to: Destination;
  /** Only this source's pages. */
  sourceId?: string;
  /** Called after each page. */
  onPage?: (info: { blob: string; events: number }) => void;
}

export async function replayArchive(opts: ReplayOptions): Promise<{ pages: number; events: number }> {
  const { archiveConfig: c } = opts;
  if (c.format !== 'raw' || c.privacy.drop.length || c.privacy.hash.length) {
    throw firstPartyGeneric(`Destination ${c.id} is not replayable: only an archive with "format": "raw" and no privacy rules holds the complete events.`, { code: 'ArchiveNotReplayable', retryable: false });
  }
  const container = await opts.archive.containerClient();
  const names: string[] = [];
  for await (const b of container.listBlobsFlat({ prefix: `${c.prefix}${opts.sourceId ? `${opts.sourceId}/` : ''}` })) {
    if (parseEventsBlobName(c.prefix, b.name)) names.push(b.name);
  }
  names.sort();
  let events = 0;
  for (const name of names) {
    const parts = parseEventsBlobName(c.prefix, name)!;
    const blob = container.getBlockBlobClient(name);
    const props = await blob.getProperties();
    if (props.metadata?.mtcformat !== 'raw' || props.metadata?.mtcprivacy === 'yes') {
      throw firstPartyGeneric(`Archive blob ${name} was not written in the raw format without privacy rules; it cannot be replayed.`, { code: 'ArchiveNotReplayable', retryable: false });
    }
    const text = gunzipSync(await blob.downloadToBuffer()).toString('utf8');
    const page = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as TraceEvent);
    await opts.to.send(page, { sourceId: parts.sourceId, sliceId: parts.sliceId, page: parts.page });
    events += page.length;
    opts.onPage?.({ blob: name, events: page.length });
  }
  return { pages: names.length, events };
}
