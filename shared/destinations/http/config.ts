/** `http`: NDJSON over HTTPS POST to any receiver. Options: docs/destinations.md#http. */
import { z } from 'zod';
import type { HeaderValue } from '../../config-common/types';
import { isPlainObject } from '../../config-common/issues';
import { MAX_BATCH_BYTES, MAX_BATCH_RECORDS } from '../limits';
import { checkHeaders, checkHttpUrl, httpOptionsOf, httpShape, parseEntry, type DestinationCommonConfig } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

export interface HttpDestinationConfig extends DestinationCommonConfig {
  type: 'http';
  url: string;
  headers: Record<string, HeaderValue>;
  gzip: boolean;
  maxBatchBytes: number;
  maxBatchRecords: number;
  timeoutMs: number;
  /** Plain http to a loopback address, explicitly opted into. */
  allowInsecureLoopback: boolean;
}

export const httpConfig: DestinationKind<HttpDestinationConfig> = {
  type: 'http',
  aliases: ['webhook', 'https'],
  example: '{"id": "siem", "type": "http", "url": "https://siem.example.com/ingest"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const entry = parseEntry(raw, path, out, {
      type: 'http', keyVaultUri, defaultFormat: 'raw', secretRefField: 'headers.<Header-Name>.secretRef',
      shape: {
        url: z.string({ error: 'must be the https URL the collector POSTs batches to, e.g. "https://siem.example.com/ingest"' }),
        headers: z.record(z.string(), z.unknown(), { error: 'must be an object of header names to values, e.g. {"X-Source": "mtc", "Authorization": {"secretRef": "kv:siem-token"}}' }).default({}),
        ...httpShape({ gzip: false, maxBatchBytes: 1_000_000, maxBatchBytesLimit: MAX_BATCH_BYTES, maxBatchRecords: 5000, maxBatchRecordsLimit: MAX_BATCH_RECORDS }),
      },
    });
    const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out) : undefined;
    const headers = isPlainObject(raw.headers) ? checkHeaders(raw.headers, [...path, 'headers'], keyVaultUri, out) : {};
    if (!entry || url === undefined || out.issues.length > before) return undefined;
    return { ...entry.common, type: 'http', url, headers, ...httpOptionsOf(entry.data) };
  },
  secretRefs: (config) => Object.entries(config.headers).flatMap(([name, value]) => (typeof value === 'string' ? [] : [[['headers', name, 'secretRef'], value.secret]])),
};
