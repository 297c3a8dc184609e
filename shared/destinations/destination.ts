/**
 * The destination contract (STYLE: OpenTelemetry exporters, Vector sinks). A destination gets the
 * events of one page in API order and sends them in batches. After each acknowledged batch it
 * reports progress, so the worker can record a delivery mark and a retry never re-sends what a
 * destination already acknowledged.
 *
 * A destination type is one folder under shared/destinations/ (config.ts: schema, defaults and
 * validation; factory.ts: the registry entry; destination.ts: the implementation) plus one line in
 * shared/destinations/registry.ts.
 * Every failure is a CollectorError with a `code` and `retryable`.
 */
import type { TraceEvent } from '../model/row';

export interface SendContext {
  sourceId: string;
  sliceId: string;
  page: number;
  signal?: AbortSignal;
  /**
   * Called after each acknowledged batch with the number of events delivered so far (in order)
   * and, when the destination knows it, the bytes of those events as serialised (before compression).
   */
  onProgress?: (deliveredSoFar: number, bytesSoFar?: number) => Promise<void>;
}

export interface Destination {
  readonly id: string;
  readonly type: string;
  /** Sends every event or throws a CollectorError (FirstPartyGeneric; retryable or not). */
  send(events: TraceEvent[], ctx: SendContext): Promise<void>;
  /** Optional start-up check that the destination is reachable and accepts our credentials. */
  healthCheck?(): Promise<void>;
  /** True when a repeated send of the same event is dropped by the destination (Elastic _id, blob names). */
  readonly idempotent?: boolean;
}

/** Splits serialised lines into batches of at most `maxRecords` lines and `maxBytes` bytes (a single larger line goes alone). */
export function batchLines(lines: string[], maxRecords: number, maxBytes: number): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (current.length && (current.length >= maxRecords || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/** Bytes of serialised lines as sent (one separator per line), for the `mtc.bytes.sent` metric. */
export function linesBytes(lines: readonly string[]): number {
  let bytes = 0;
  for (const line of lines) bytes += Buffer.byteLength(line) + 1;
  return bytes;
}

/**
 * Sends batches in order, reporting progress after each: `sendBatch` resolves when the batch is
 * acknowledged. `sizeOf` gives the number of events in a batch; batches of serialised lines
 * (string arrays) also report their bytes.
 */
export async function deliverInOrder<B>(batches: B[], sizeOf: (b: B) => number, ctx: SendContext, sendBatch: (b: B) => Promise<void>): Promise<void> {
  let delivered = 0;
  let bytes: number | undefined = 0;
  for (const batch of batches) {
    await sendBatch(batch);
    delivered += sizeOf(batch);
    bytes = bytes !== undefined && Array.isArray(batch) && batch.every((l) => typeof l === 'string') ? bytes + linesBytes(batch as string[]) : undefined;
    await ctx.onProgress?.(delivered, bytes);
  }
}
