/**
 * One entry of `destinations`: where collected rows go (`http` or `file`).
 */
import { z } from 'zod';
import { MINUTE_MS, SECOND_MS } from '../time/expressions';
import { isLoopbackHost } from './clouds';
import { booleanField, durationField, idField, intField, secretRefField } from './fields';
import { addZodIssues, isPlainObject, type IssueCollector, type Path } from './issues';
import { isCredentialHeaderName, looksLikeCredentialValue, SECRET_REF_SYNTAX } from './secrets';
import type { DestinationConfig, HeaderValue } from './types';
import { checkUnknownFields } from './unknown-fields';
import { RETRY_FIELDS, retrySchema, toRetryPolicy } from './retry';

export const DESTINATION_TYPES = ['http', 'file'] as const;

export const HTTP_DEFAULTS = { gzip: false, maxBatchBytes: 1_000_000, maxBatchRecords: 5000, timeout: '30s', allowInsecureLoopback: false } as const;
export const MAX_BATCH_BYTES = 10_000_000;
export const MAX_BATCH_RECORDS = 100_000;

/** Headers the collector sets itself. */
const RESERVED_HEADERS = ['host', 'content-length', 'content-encoding', 'transfer-encoding', 'connection'];
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const httpSchema = z.object({
  id: idField('destination'),
  type: z.literal('http'),
  url: z.string({ error: 'must be the https URL the collector POSTs batches to, e.g. "https://siem.example.com/ingest"' }),
  headers: z.record(z.string(), z.unknown(), { error: 'must be an object of header names to values, e.g. {"X-Source": "mtc", "Authorization": {"secretRef": "kv:siem-token"}}' }).default({}),
  gzip: booleanField().default(HTTP_DEFAULTS.gzip),
  maxBatchBytes: intField(1024, MAX_BATCH_BYTES, 1_000_000).default(HTTP_DEFAULTS.maxBatchBytes),
  maxBatchRecords: intField(1, MAX_BATCH_RECORDS, 5000).default(HTTP_DEFAULTS.maxBatchRecords),
  timeout: durationField(SECOND_MS, 10 * MINUTE_MS, '30s').prefault(HTTP_DEFAULTS.timeout),
  allowInsecureLoopback: booleanField().default(HTTP_DEFAULTS.allowInsecureLoopback),
  retry: retrySchema.prefault({}),
});

const fileSchema = z.object({
  id: idField('destination'),
  type: z.literal('file'),
  directory: z
    .string({ error: 'must be the folder for the NDJSON files, e.g. "./out"' })
    .refine((s) => s.trim() !== '' && !s.includes('\0'), { error: 'must be the folder for the NDJSON files, e.g. "./out"' }),
  maxBatchRecords: intField(1, MAX_BATCH_RECORDS, 5000).default(HTTP_DEFAULTS.maxBatchRecords),
  retry: retrySchema.prefault({}),
});

export const HTTP_FIELDS = Object.keys(httpSchema.shape);
export const FILE_FIELDS = Object.keys(fileSchema.shape);

const DESTINATION_ALIASES: Record<string, string> = {
  endpoint: 'url',
  uri: 'url',
  compress: 'gzip',
  compression: 'gzip',
  path: 'directory',
  dir: 'directory',
  folder: 'directory',
  batchSize: 'maxBatchRecords',
  maxRecords: 'maxBatchRecords',
  maxBytes: 'maxBatchBytes',
  requestTimeout: 'timeout',
  insecure: 'allowInsecureLoopback',
};

/** Checks one destination; returns the normalised destination when it has no problem. */
export function parseDestination(raw: unknown, path: Path, keyVaultUri: string | undefined, out: IssueCollector): DestinationConfig | undefined {
  if (!isPlainObject(raw)) {
    out.add(path, 'must be an object describing a destination, e.g. {"id": "siem", "type": "http", "url": "https://siem.example.com/ingest"}');
    return undefined;
  }
  if (raw.type !== 'http' && raw.type !== 'file') {
    out.add([...path, 'type'], `${raw.type === undefined ? 'is required; it must' : 'must'} be one of ${DESTINATION_TYPES.map((t) => `"${t}"`).join(', ')}`);
    const idCheck = idField('destination').safeParse(raw.id);
    if (!idCheck.success) addZodIssues(out, [...path, 'id'], raw.id, idCheck.error.issues);
    return undefined;
  }
  const before = out.issues.length;
  if (raw.type === 'file') {
    checkUnknownFields(raw, FILE_FIELDS, path, out, { aliases: DESTINATION_ALIASES });
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) {
      addZodIssues(out, path, raw, parsed.error.issues);
      return undefined;
    }
    if (isPlainObject(raw.retry)) checkUnknownFields(raw.retry, RETRY_FIELDS, [...path, 'retry'], out, {});
    return out.issues.length > before ? undefined : { ...parsed.data, retry: toRetryPolicy(parsed.data.retry) };
  }

  checkUnknownFields(raw, HTTP_FIELDS, path, out, { aliases: DESTINATION_ALIASES, secretRefField: 'headers.<Header-Name>.secretRef' });
  const parsed = httpSchema.safeParse(raw);
  if (!parsed.success) addZodIssues(out, path, raw, parsed.error.issues);
  const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out) : undefined;
  if (isPlainObject(raw.retry)) checkUnknownFields(raw.retry, RETRY_FIELDS, [...path, 'retry'], out, {});
  const headers = isPlainObject(raw.headers) ? checkHeaders(raw.headers, [...path, 'headers'], keyVaultUri, out) : {};
  if (!parsed.success || out.issues.length > before || url === undefined) return undefined;
  return {
    id: parsed.data.id,
    type: 'http',
    url,
    headers,
    gzip: parsed.data.gzip,
    maxBatchBytes: parsed.data.maxBatchBytes,
    maxBatchRecords: parsed.data.maxBatchRecords,
    timeoutMs: parsed.data.timeout,
    allowInsecureLoopback: parsed.data.allowInsecureLoopback,
    retry: toRetryPolicy(parsed.data.retry),
  };
}

/** The URL rules; never repeats the URL (some SIEM URLs embed a token). */
function checkHttpUrl(raw: string, allowInsecureLoopback: boolean, path: Path, out: IssueCollector): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    out.add(path, 'is not an absolute URL; write it like "https://siem.example.com/ingest"');
    return undefined;
  }
  if (u.username || u.password) {
    out.add(path, 'must not contain a user name or password; send credentials in a header whose value is a secret reference, e.g. "headers": {"Authorization": {"secretRef": "kv:siem-token"}}');
    return undefined;
  }
  if (u.hash) {
    out.add(path, 'must not contain a #fragment');
    return undefined;
  }
  if (u.protocol === 'https:') return u.href;
  if (u.protocol !== 'http:') {
    out.add(path, 'must be an https URL, e.g. "https://siem.example.com/ingest"');
    return undefined;
  }
  if (!isLoopbackHost(u.hostname)) {
    out.add(path, 'must use https; plain http is allowed only to a loopback host (127.0.0.1, localhost or ::1) together with "allowInsecureLoopback": true');
    return undefined;
  }
  if (!allowInsecureLoopback) {
    out.add(path, 'uses plain http to a loopback host, which needs "allowInsecureLoopback": true on this destination; set it, or use https');
    return undefined;
  }
  return u.href;
}

function checkHeaders(raw: Record<string, unknown>, path: Path, keyVaultUri: string | undefined, out: IssueCollector): Record<string, HeaderValue> {
  const headers: Record<string, HeaderValue> = {};
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    const p = [...path, name];
    if (!HEADER_NAME.test(name)) {
      out.add(p, 'is not a valid header name; use letters, digits and dashes, e.g. "X-Source"');
      continue;
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      out.add(p, `repeats the header "${seen.get(lower)}" (header names are case-insensitive); keep one`);
      continue;
    }
    seen.set(lower, name);
    if (RESERVED_HEADERS.includes(lower)) {
      out.add(p, `is set by the collector itself and cannot be configured${lower === 'content-encoding' ? '; use "gzip": true for compression' : ''}`);
      continue;
    }
    if (typeof value === 'string') {
      if (isCredentialHeaderName(name) || looksLikeCredentialValue(value)) {
        out.add(
          p,
          `looks like a credential; secrets are never inline in the configuration. Store the complete header value (e.g. "Bearer …") ` +
            `as a secret and write {"secretRef": "kv:siem-token"}; references are ${SECRET_REF_SYNTAX}`,
        );
        continue;
      }
      if (/[\r\n\0]/.test(value)) {
        out.add(p, 'must not contain line breaks');
        continue;
      }
      headers[name] = value;
      continue;
    }
    if (isPlainObject(value)) {
      checkUnknownFields(value, ['secretRef'], p, out, { aliases: { ref: 'secretRef', secret: 'secretRef' } });
      const ref = secretRefField(keyVaultUri, 'kv:siem-token').safeParse(value.secretRef);
      if (!ref.success) {
        addZodIssues(out, [...p, 'secretRef'], value.secretRef, ref.error.issues);
        continue;
      }
      headers[name] = { secret: ref.data };
      continue;
    }
    out.add(p, `must be a string, or {"secretRef": "…"} for a secret (${SECRET_REF_SYNTAX}); got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}`);
  }
  return headers;
}
