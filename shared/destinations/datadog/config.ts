/** `datadog`: Datadog Logs intake (HTTP API v2). Options: docs/destinations.md#datadog. */
import { z } from 'zod';
import type { DestinationCommonConfig } from '../config-common';
import type { SecretRef } from '../../config-common/types';
import { checkHttpUrl, httpOptionsOf, httpShape, parseEntry, secretRef, type HttpOptions } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

/** Datadog sites and their logs intake hosts (docs.datadoghq.com "Send logs"). */
export const DATADOG_SITES: Record<string, string> = {
  'datadoghq.com': 'https://http-intake.logs.datadoghq.com',
  'us3.datadoghq.com': 'https://http-intake.logs.us3.datadoghq.com',
  'us5.datadoghq.com': 'https://http-intake.logs.us5.datadoghq.com',
  'datadoghq.eu': 'https://http-intake.logs.datadoghq.eu',
  'ap1.datadoghq.com': 'https://http-intake.logs.ap1.datadoghq.com',
  'ap2.datadoghq.com': 'https://http-intake.logs.ap2.datadoghq.com',
  'uk1.datadoghq.com': 'https://http-intake.logs.uk1.datadoghq.com',
  'ddog-gov.com': 'https://http-intake.logs.ddog-gov.com',
  'us2.ddog-gov.com': 'https://http-intake.logs.us2.ddog-gov.com',
};

/** Per request: 5 MB uncompressed and 1000 entries; per entry: 1 MB (larger entries are truncated by Datadog). */
export const DATADOG_LIMITS = { payloadBytes: 5_000_000, entries: 1000, entryBytes: 1_000_000 } as const;

export interface DatadogDestinationConfig extends DestinationCommonConfig, HttpOptions {
  type: 'datadog';
  site: string;
  /** The intake URL: from the site, or `url` (a proxy, or a test receiver). */
  url: string;
  apiKey: SecretRef;
  service: string;
  ddsource: string;
  ddtags: string[];
}

const TAG = /^[a-zA-Z][\w\-./:]{0,199}$/;

export const datadogConfig: DestinationKind<DatadogDestinationConfig> = {
  type: 'datadog',
  example: '{"id": "datadog", "type": "datadog", "site": "datadoghq.eu", "apiKeyRef": "kv:datadog-api-key"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const sites = Object.keys(DATADOG_SITES);
    const entry = parseEntry(raw, path, out, {
      type: 'datadog', keyVaultUri, defaultFormat: 'raw', secretRefField: 'apiKeyRef',
      aliases: { tags: 'ddtags', source: 'ddsource', region: 'site', DD_SITE: 'site' },
      shape: {
        site: z.enum(sites as [string, ...string[]], { error: `must be your Datadog site: ${sites.map((s) => `"${s}"`).join(', ')} (the part after "app." in your Datadog address)` }).default('datadoghq.com'),
        url: z.string({ error: 'must be an https URL of a logs intake or proxy; leave it out to use the site\'s intake' }).optional(),
        apiKeyRef: secretRef(keyVaultUri, 'kv:datadog-api-key'),
        service: z.string({ error: 'must be the service name, e.g. "exchange-online"' }).regex(/^[^\r\n\0]{1,100}$/, { error: 'must be a service name of 1-100 characters' }).default('exchange-online'),
        ddsource: z.string({ error: 'must be the log source (integration name), e.g. "microsoft-365"' }).regex(/^[^\r\n\0]{1,100}$/, { error: 'must be a source name of 1-100 characters' }).default('microsoft-365'),
        ddtags: z.array(z.string().regex(TAG, { error: 'must be a tag like "env:prod" (starting with a letter; letters, digits, "_", "-", ".", "/", ":")' }), { error: 'must be a list of tags, e.g. ["env:prod", "team:secops"]' }).default([]),
        ...httpShape({ gzip: true, maxBatchBytes: DATADOG_LIMITS.payloadBytes, maxBatchBytesLimit: DATADOG_LIMITS.payloadBytes, maxBatchRecords: DATADOG_LIMITS.entries, maxBatchRecordsLimit: DATADOG_LIMITS.entries }),
      },
    });
    const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out, 'https://http-intake.logs.datadoghq.com') : undefined;
    if (!entry || (raw.url !== undefined && url === undefined) || out.issues.length > before) return undefined;
    const d = entry.data;
    const base = url ?? DATADOG_SITES[d.site]!;
    const u = new URL(base);
    if (!/\/api\/v2\/logs\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/logs`;
    return { ...entry.common, type: 'datadog', site: d.site, url: u.href, apiKey: d.apiKeyRef, service: d.service, ddsource: d.ddsource, ddtags: d.ddtags, ...httpOptionsOf(d) };
  },
};
