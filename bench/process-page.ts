/**
 * What the collector does to one page besides fetching it: keep the rows inside the half-open slice,
 * drop page-boundary repeats, normalise (the event envelope with its deterministic event id),
 * serialise as NDJSON and gzip, as the HTTP destinations send it. The benchmark discards the bytes.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { makeEvent, receivedMs, rowKey, type MessageTraceRow } from '../shared/model/row';

const gzip = promisify(zlib.gzip);

export interface ProcessedPage {
  kept: number;
  bytes: number;
  gzipBytes: number;
  /** Keys of this page's rows, for the next page's boundary repeats. */
  keys: Set<string>;
}

export async function processPage(args: {
  tenantId: string;
  sourceId: string;
  rows: MessageTraceRow[];
  startMs: number;
  endMs: number;
  previousKeys?: Set<string>;
  collectedAt: string;
  /** Receives every buffer and object the page made, to hold them alive (bench/memory.ts: pages in flight at once). */
  retain?: unknown[];
}): Promise<ProcessedPage> {
  const keys = new Set<string>();
  const lines: string[] = [];
  for (const row of args.rows) {
    const t = receivedMs(row.receivedDateTime);
    if (Number.isNaN(t) || t < args.startMs || t >= args.endMs) continue;
    const key = rowKey(args.tenantId, row);
    if (keys.has(key) || args.previousKeys?.has(key)) continue;
    keys.add(key);
    const event = makeEvent({ tenantId: args.tenantId, sourceId: args.sourceId, api: 'graph/v1.0', collectedAt: args.collectedAt, fields: { customer: 'bench' }, row });
    lines.push(JSON.stringify(event));
  }
  const body = Buffer.from(lines.join('\n') + '\n');
  const zipped = await gzip(body);
  args.retain?.push(args.rows, lines, body, zipped, keys);
  return { kept: lines.length, bytes: body.length, gzipBytes: zipped.length, keys };
}
