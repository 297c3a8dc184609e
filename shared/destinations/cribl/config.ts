/** `cribl`: the Cribl Stream/Edge HTTP/S (Bulk API) Source, Cribl HTTP event API. Options: docs/destinations.md#cribl. */
import { z } from 'zod';
import type { DestinationCommonConfig } from '../config-common';
import type { SecretRef } from '../../config-common/types';
import { checkHttpUrl, httpOptionsOf, httpShape, parseEntry, secretRef, type HttpOptions } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

export interface CriblDestinationConfig extends DestinationCommonConfig, HttpOptions {
  type: 'cribl';
  /** Full endpoint, e.g. https://cribl.example.com:10080/cribl/_bulk */
  url: string;
  /** Auth token of the source (sent as `Authorization: <token>`); none when the source allows unauthenticated access. */
  token?: SecretRef;
}

export const criblConfig: DestinationKind<CriblDestinationConfig> = {
  type: 'cribl',
  example: '{"id": "cribl", "type": "cribl", "url": "https://cribl.example.com:10080", "tokenRef": "kv:cribl-token"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const entry = parseEntry(raw, path, out, {
      type: 'cribl', keyVaultUri, defaultFormat: 'raw', secretRefField: 'tokenRef',
      aliases: { authToken: 'tokenRef' },
      shape: {
        url: z.string({ error: 'must be the Cribl HTTP source URL, e.g. "https://cribl.example.com:10080" (the collector adds /cribl/_bulk)' }),
        tokenRef: secretRef(keyVaultUri, 'kv:cribl-token').optional(),
        ...httpShape({ gzip: true, maxBatchBytes: 2_000_000, maxBatchBytesLimit: 100_000_000, maxBatchRecords: 5000, maxBatchRecordsLimit: 100_000 }),
      },
    });
    const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out, 'https://cribl.example.com:10080') : undefined;
    if (!entry || url === undefined || out.issues.length > before) return undefined;
    const u = new URL(url);
    if (!/\/_bulk\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/cribl/_bulk`;
    return { ...entry.common, type: 'cribl', url: u.href, ...(entry.data.tokenRef ? { token: entry.data.tokenRef } : {}), ...httpOptionsOf(entry.data) };
  },
};
