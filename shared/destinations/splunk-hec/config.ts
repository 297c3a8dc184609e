/**
 * `splunk-hec`: Splunk HTTP Event Collector, JSON event endpoint (/services/collector/event).
 * Options: docs/destinations.md#splunk-hec. By default the events are what the Splunk Add-on for
 * Microsoft Office 365's message trace input indexes (sourcetype `ms:o365:reporting:messagetrace`,
 * the legacy report record), so its content and siem/splunk/TA-message-trace-collector (CIM Email) apply.
 */
/** The sourcetype of the Splunk Add-on for Microsoft Office 365 message trace input. */
export const SPLUNK_MESSAGETRACE_SOURCETYPE = 'ms:o365:reporting:messagetrace';
import { z } from 'zod';
import type { SecretRef } from '../../config-common/types';
import { checkHttpUrl, httpOptionsOf, httpShape, parseEntry, secretRef, type HttpOptions } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';
import type { DestinationCommonConfig } from '../config-common';

export interface SplunkHecDestinationConfig extends DestinationCommonConfig, HttpOptions {
  type: 'splunk-hec';
  /** The event endpoint, e.g. https://splunk.example.com:8088/services/collector/event */
  url: string;
  /** The HEC token (the secret holds the token, with or without the "Splunk " prefix). */
  token: SecretRef;
  index?: string;
  sourcetype: string;
  /** `source` of each event; default `mtc:<sourceId>`. */
  source?: string;
  /** `host` of each event; default the tenant id. */
  host?: string;
  /** Channel GUID, required when the token has indexer acknowledgement turned on. */
  channel?: string;
}

const NAME = /^[^\r\n\0]{1,256}$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const splunkHecConfig: DestinationKind<SplunkHecDestinationConfig> = {
  type: 'splunk-hec',
  aliases: ['splunk', 'hec'],
  example: '{"id": "splunk", "type": "splunk-hec", "url": "https://splunk.example.com:8088", "tokenRef": "kv:splunk-hec-token"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const entry = parseEntry(raw, path, out, {
      type: 'splunk-hec', keyVaultUri, defaultFormat: 'o365-messagetrace', secretRefField: 'tokenRef',
      aliases: { hecToken: 'tokenRef', sourceType: 'sourcetype', source_type: 'sourcetype' },
      shape: {
        url: z.string({ error: 'must be the HEC URL, e.g. "https://splunk.example.com:8088" (the collector adds /services/collector/event)' }),
        tokenRef: secretRef(keyVaultUri, 'kv:splunk-hec-token'),
        index: z.string({ error: 'must be the Splunk index name, e.g. "o365"' }).regex(/^[a-z0-9_][a-z0-9_-]{0,79}$/, { error: 'must be a Splunk index name: lowercase letters, digits, "_" and "-", e.g. "o365"' }).optional(),
        sourcetype: z.string({ error: `must be a sourcetype, e.g. "${SPLUNK_MESSAGETRACE_SOURCETYPE}"` }).regex(NAME, { error: 'must be a sourcetype of 1-256 characters without line breaks' }).default(SPLUNK_MESSAGETRACE_SOURCETYPE),
        source: z.string({ error: 'must be a source name, e.g. "mtc:contoso"' }).regex(NAME, { error: 'must be a source of 1-256 characters without line breaks' }).optional(),
        host: z.string({ error: 'must be a host name' }).regex(NAME, { error: 'must be a host of 1-256 characters without line breaks' }).optional(),
        channel: z.string({ error: 'must be a channel GUID like "5f4c3b2a-1d0e-4f9a-8b7c-6d5e4f3a2b1c"' }).regex(GUID, { error: 'must be a channel GUID like "5f4c3b2a-1d0e-4f9a-8b7c-6d5e4f3a2b1c"' }).optional(),
        ...httpShape({ gzip: true, maxBatchBytes: 1_000_000, maxBatchBytesLimit: 100_000_000, maxBatchRecords: 1000, maxBatchRecordsLimit: 100_000 }),
      },
    });
    const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out, 'https://splunk.example.com:8088') : undefined;
    if (!entry || url === undefined || out.issues.length > before) return undefined;
    const d = entry.data;
    const u = new URL(url);
    if (!/\/services\/collector(\/event)?(\/1\.0)?\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/services/collector/event`;
    return {
      ...entry.common, type: 'splunk-hec', url: u.href, token: d.tokenRef, sourcetype: d.sourcetype,
      ...(d.index ? { index: d.index } : {}), ...(d.source ? { source: d.source } : {}), ...(d.host ? { host: d.host } : {}), ...(d.channel ? { channel: d.channel.toLowerCase() } : {}),
      ...httpOptionsOf(d),
    };
  },
};
