/**
 * `elastic`: Elasticsearch `_bulk` with `create` and `_id` = eventId. Options: docs/destinations.md#elastic.
 * By default it writes into the data stream of Elastic's Microsoft Exchange Online Message Trace
 * integration, in the shape that integration's ingest pipeline reads (docs/siem/elastic.md).
 */
import { z } from 'zod';
import type { DestinationCommonConfig } from '../config-common';
import type { SecretRef } from '../../config-common/types';
import { checkHttpUrl, httpOptionsOf, httpShape, parseEntry, secretRef, type HttpOptions } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

export interface ElasticDestinationConfig extends DestinationCommonConfig, HttpOptions {
  type: 'elastic';
  /** The cluster's base URL, e.g. https://es.example.com:9200 */
  url: string;
  /** The index or data stream written to. */
  index: string;
  /** API key: the secret holds the encoded key (base64 of id:api_key), sent as `Authorization: ApiKey <value>`. */
  apiKey: SecretRef;
  /** Ingest pipeline applied to each document. */
  pipeline?: string;
}

/** The data stream of Elastic's `microsoft_exchange_online_message_trace` integration (`log` dataset). */
export const ELASTIC_INTEGRATION_DATASET = 'microsoft_exchange_online_message_trace.log';
export const ELASTIC_DEFAULT_INDEX = `logs-${ELASTIC_INTEGRATION_DATASET}-default`;

/** Elasticsearch index names: lowercase, no \ / * ? " < > | space , #, not starting with - _ +. */
const INDEX = /^(?![-_+])[^A-Z\\/*?"<>| ,#:]{1,255}$/;

export const elasticConfig: DestinationKind<ElasticDestinationConfig> = {
  type: 'elastic',
  aliases: ['elasticsearch', 'opensearch'],
  example: '{"id": "elastic", "type": "elastic", "url": "https://es.example.com:9200", "apiKeyRef": "kv:elastic-api-key"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const entry = parseEntry(raw, path, out, {
      type: 'elastic', keyVaultUri, defaultFormat: 'o365-messagetrace', secretRefField: 'apiKeyRef',
      aliases: { dataStream: 'index', indexName: 'index', apiKeyId: 'apiKeyRef' },
      shape: {
        url: z.string({ error: 'must be the Elasticsearch URL, e.g. "https://es.example.com:9200"' }),
        index: z.string({ error: `must be an index or data stream name, e.g. "${ELASTIC_DEFAULT_INDEX}"` }).regex(INDEX, { error: `must be a lowercase index or data stream name without spaces or \\ / * ? " < > | , # :, e.g. "${ELASTIC_DEFAULT_INDEX}"` }).default(ELASTIC_DEFAULT_INDEX),
        apiKeyRef: secretRef(keyVaultUri, 'kv:elastic-api-key'),
        pipeline: z.string({ error: 'must be an ingest pipeline name' }).regex(/^[A-Za-z0-9_.@-]{1,255}$/, { error: 'must be an ingest pipeline name (letters, digits, "_", ".", "-", "@")' }).optional(),
        ...httpShape({ gzip: true, maxBatchBytes: 5_000_000, maxBatchBytesLimit: 100_000_000, maxBatchRecords: 5000, maxBatchRecordsLimit: 100_000 }),
      },
    });
    const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out, 'https://es.example.com:9200') : undefined;
    if (!entry || url === undefined || out.issues.length > before) return undefined;
    const d = entry.data;
    if (d.index.startsWith(`logs-${ELASTIC_INTEGRATION_DATASET}-`) && !d.pipeline && entry.common.format !== 'o365-messagetrace') {
      out.add([...path, 'format'], `is "${entry.common.format}", but the index "${d.index}" is the data stream of Elastic's message trace integration, whose ingest pipeline reads only the "o365-messagetrace" document (in "message"); remove "format" (the default is "o365-messagetrace"), or write to another index such as "logs-o365.messagetrace-default"`);
      return undefined;
    }
    return { ...entry.common, type: 'elastic', url, index: d.index, apiKey: d.apiKeyRef, ...(d.pipeline ? { pipeline: d.pipeline } : {}), ...httpOptionsOf(d) };
  },
};
