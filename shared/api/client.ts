/**
 * What the page worker needs from a message trace API: one page for a window or a continuation.
 * Graph (shared/api/graph/client.ts) implements it; the legacy RWS API plugs in the same way, so
 * both go through the same planner, ledger, budget and retry machinery.
 */
import type { MessageTraceDetail, MessageTraceRow } from '../model/row';

export type PageRequest =
  | { kind: 'window'; startMs: number; endMs: number; top: number }
  | { kind: 'continuation'; url: string };

export interface PageResult {
  /** Rows in the Graph shape (id, recipientAddress, receivedDateTime, status, …), in API order. */
  rows: MessageTraceRow[];
  /** The opaque continuation for the next page; absent on the last page. */
  nextLink?: string;
  /** For legacy APIs: the original record of each row (same order), forwarded as the envelope's `raw`. */
  raws?: unknown[];
  /** Bytes of the response body received (decoded), for the `mtc.bytes.received` metric. */
  bytes?: number;
}

/** One request for a row's details: the first (trace id + recipient) or a continuation link. */
export type DetailRequest =
  | { kind: 'first'; traceId: string; recipientAddress: string }
  | { kind: 'continuation'; url: string };

export interface DetailResult {
  /** The detail events of this answer, in API order. */
  details: MessageTraceDetail[];
  /** The next part of the answer (`@odata.nextLink`); absent on the last. Each follow-up is one more request. */
  nextLink?: string;
  /** Bytes of the response body received (decoded). */
  bytes?: number;
}

export interface MessageTraceClient {
  /** The API and version, as the event envelope's `api` field says it (`graph/v1.0`, `rws`). */
  readonly api: string;
  fetchPage(request: PageRequest, opts?: { signal?: AbortSignal; clientRequestId?: string }): Promise<PageResult>;
  /**
   * One `getDetailsByRecipient` request (Graph, reference B.6). Absent for APIs that have none
   * built (RWS: its MessageTraceDetail report is not implemented; the configuration refuses
   * `details` for it).
   */
  fetchDetails?(request: DetailRequest, opts?: { signal?: AbortSignal; clientRequestId?: string }): Promise<DetailResult>;
}

/** A credential the worker can renew after a 401 on a token that was valid. */
export interface RenewableCredential {
  renew(): void;
}
