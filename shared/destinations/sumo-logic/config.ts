/**
 * `sumo-logic`: a Sumo Logic Hosted Collector HTTP Logs Source. The source URL embeds its token, so
 * the whole URL is a secret (`urlRef`). Options: docs/destinations.md#sumo-logic.
 */
import { z } from 'zod';
import type { DestinationCommonConfig } from '../config-common';
import type { SecretRef } from '../../config-common/types';
import { httpOptionsOf, httpShape, parseEntry, secretRef, type HttpOptions } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

export interface SumoLogicDestinationConfig extends DestinationCommonConfig, HttpOptions {
  type: 'sumo-logic';
  /** The HTTP Source address (contains the token). */
  url: SecretRef;
  category?: string;
  name?: string;
  host?: string;
  /** Sent as X-Sumo-Fields: k=v,k2=v2. */
  fields: Record<string, string>;
}

const HEADER_VALUE = /^[^\r\n\0,=]{1,1024}$/;
const headerField = (what: string, example: string) =>
  z.string({ error: `must be the ${what}, e.g. "${example}"` }).regex(/^[^\r\n\0]{1,1024}$/, { error: `must be the ${what} (1-1024 characters, no line breaks), e.g. "${example}"` });

export const sumoLogicConfig: DestinationKind<SumoLogicDestinationConfig> = {
  type: 'sumo-logic',
  aliases: ['sumo', 'sumologic'],
  example: '{"id": "sumo", "type": "sumo-logic", "urlRef": "kv:sumo-http-source-url"}',
  parse(raw, path, keyVaultUri, out) {
    const entry = parseEntry(raw, path, out, {
      type: 'sumo-logic', keyVaultUri, defaultFormat: 'raw', secretRefField: 'urlRef',
      aliases: { url: 'urlRef', sourceCategory: 'category', sourceName: 'name', sourceHost: 'host' },
      shape: {
        urlRef: secretRef(keyVaultUri, 'kv:sumo-http-source-url'),
        category: headerField('source category (X-Sumo-Category)', 'o365/messagetrace').optional(),
        name: headerField('source name (X-Sumo-Name)', 'message-trace').optional(),
        host: headerField('source host (X-Sumo-Host)', 'contoso').optional(),
        fields: z
          .record(z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/, { error: 'must be a field name of letters, digits, "_", "." and "-"' }), z.string({ error: 'must be a string value' }).regex(HEADER_VALUE, { error: 'must be a value without ",", "=" or line breaks' }), { error: 'must be an object of field names to values, e.g. {"customer": "contoso"}' })
          .default({}),
        ...httpShape({ gzip: true, maxBatchBytes: 1_000_000, maxBatchBytesLimit: 1_000_000, maxBatchRecords: 10_000, maxBatchRecordsLimit: 100_000 }),
      },
    });
    if (!entry) return undefined;
    const d = entry.data;
    return {
      ...entry.common, type: 'sumo-logic', url: d.urlRef, fields: d.fields,
      ...(d.category ? { category: d.category } : {}), ...(d.name ? { name: d.name } : {}), ...(d.host ? { host: d.host } : {}),
      ...httpOptionsOf(d),
    };
  },
};
