/**
 * What every destination's configuration shares: the spec a destination folder exports (schema,
 * defaults, validation, factory), the common options (`format`, `acceptedDomains`, `privacy`,
 * `retry`), the HTTP options (batching, gzip, timeout) and the URL and header rules. Messages follow
 * shared/config: they start with "must …", name the fix, and never repeat a URL or a secret.
 */
import { z } from 'zod';
import type { SecretSource } from '../auth/secrets';
import { acceptedDomainsField, booleanField, durationField, idField, intField, secretRefField } from '../config-common/fields';
import { addZodIssues, isPlainObject, type IssueCollector, type Path } from '../config-common/issues';
import { RETRY_ALIASES, RETRY_FIELDS, retrySchema, toRetryPolicy } from '../config-common/retry';
import { isCredentialHeaderName, looksLikeCredentialValue, SECRET_REF_SYNTAX } from '../config-common/secrets';
import type { DestinationKind } from '../config-common/kinds';
import type { HeaderValue, RetryPolicyConfig, SecretRef } from '../config-common/types';
import { checkUnknownFields } from '../config-common/unknown-fields';
import { isLoopbackHost } from '../config-common/urls';
import { FORMAT_NAMES, type FormatName } from '../formats/registry';
import { PRIVACY_DROP_FIELDS, PRIVACY_HASH_FIELDS, type PrivacyDropField, type PrivacyHashField } from '../formats/privacy';
import { DAY_MS, MINUTE_MS, SECOND_MS } from '../time/expressions';
import type { Destination } from './destination';

/** Output format of a destination (one per folder under shared/formats; mapping tables in docs/destinations.md). */
export type DestinationFormat = FormatName;

/** Privacy rules of a destination: row fields dropped or hashed before formatting. */
export interface DestinationPrivacyConfig {
  drop: PrivacyDropField[];
  hash: PrivacyHashField[];
  /** HMAC key for hashing; without it, plain SHA-256. */
  hashKey?: SecretRef;
}

/** The limits of a destination's backlog (its `backlog` option): past any of them the destination is parked. */
export interface BacklogLimits {
  maxPages: number;
  maxBytes: number;
  maxAgeMs: number;
}

export const BACKLOG_DEFAULTS = { maxPages: 50_000, maxBytes: 10 * 1024 ** 3, maxAge: '7d' } as const;

/** Fields every destination has (docs/destinations.md, "Common options"). */
export interface DestinationCommonConfig {
  id: string;
  format: DestinationFormat;
  /** The tenant's accepted domains (lowercase), for mail direction of sources that set none. */
  acceptedDomains: string[];
  /**
   * Derived by the config loader, not written by users: the accepted domains of each source that
   * sets its own (source id -> domains). They win over `acceptedDomains` for that source's events.
   */
  acceptedDomainsBySource?: Record<string, string[]>;
  privacy: DestinationPrivacyConfig;
  retry: RetryPolicyConfig;
  /** How much may wait for this destination while it is down or slow (shared/delivery), before it is parked. */
  backlog: BacklogLimits;
}

/** What one destination folder registers: how the config loader parses it, and its factory. */
export interface DestinationSpec<C extends DestinationCommonConfig & { type: string } = DestinationCommonConfig & { type: string }> extends DestinationKind<C> {
  create(config: C, secrets: SecretSource): Destination;
}

export const COMMON_FIELDS = ['id', 'type', 'format', 'acceptedDomains', 'privacy', 'retry', 'backlog'];
export const BACKLOG_FIELDS = ['maxPages', 'maxBytes', 'maxAge'];

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };
const SIZE_MSG = 'must be a size: a number of bytes or a string such as "500MB" or "10GiB", from 1MB to 1TiB';

/** A size in bytes: a number, or a string with a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB). */
function sizeField() {
  return z.union([z.number(), z.string()], { error: SIZE_MSG }).transform((raw, ctx): number => {
    let bytes = Number.NaN;
    if (typeof raw === 'number') bytes = raw;
    else {
      const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(raw);
      if (m) bytes = Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!;
    }
    if (!Number.isFinite(bytes) || bytes < 1e6 || bytes > 1024 ** 4) {
      ctx.issues.push({ code: 'custom', input: raw, message: SIZE_MSG });
      return z.NEVER;
    }
    return Math.floor(bytes);
  });
}

const backlogSchema = z.object(
  {
    maxPages: intField(10, 10_000_000, BACKLOG_DEFAULTS.maxPages).default(BACKLOG_DEFAULTS.maxPages),
    maxBytes: sizeField().default(BACKLOG_DEFAULTS.maxBytes),
    maxAge: durationField(10 * MINUTE_MS, 90 * DAY_MS, BACKLOG_DEFAULTS.maxAge).prefault(BACKLOG_DEFAULTS.maxAge),
  },
  { error: `must be an object such as {"maxPages": ${BACKLOG_DEFAULTS.maxPages}, "maxBytes": "10GiB", "maxAge": "${BACKLOG_DEFAULTS.maxAge}"}` },
);
const PRIVACY_FIELDS = ['drop', 'hash', 'hashKeyRef'];

export const COMMON_ALIASES: Record<string, string> = {
  endpoint: 'url', uri: 'url', compress: 'gzip', compression: 'gzip', batchSize: 'maxBatchRecords', maxRecords: 'maxBatchRecords',
  maxBytes: 'maxBatchBytes', requestTimeout: 'timeout', insecure: 'allowInsecureLoopback', domains: 'acceptedDomains',
  localDomains: 'acceptedDomains', local_domains: 'acceptedDomains', schema: 'format', output: 'format',
};

function commonShape(type: string, keyVaultUri: string | undefined, defaultFormat: DestinationFormat) {
  const formatMsg = `must be one of ${FORMAT_NAMES.map((f) => `"${f}"`).join(', ')} (default "${defaultFormat}")`;
  return {
    id: idField('destination'),
    type: z.literal(type),
    format: z.enum(FORMAT_NAMES, { error: formatMsg }).default(defaultFormat),
    acceptedDomains: acceptedDomainsField(),
    privacy: z
      .object(
        {
          drop: z.array(z.enum(PRIVACY_DROP_FIELDS, { error: `must name fields to drop: ${PRIVACY_DROP_FIELDS.map((f) => `"${f}"`).join(', ')}` }), { error: 'must be a list such as ["subject"]' }).default([]),
          hash: z.array(z.enum(PRIVACY_HASH_FIELDS, { error: `must name fields to hash: ${PRIVACY_HASH_FIELDS.map((f) => `"${f}"`).join(', ')}` }), { error: 'must be a list such as ["recipientLocalPart"]' }).default([]),
          hashKeyRef: secretRefField(keyVaultUri, 'kv:mtc-privacy-key').optional(),
        },
        { error: 'must be an object such as {"drop": ["subject"], "hash": ["recipientLocalPart"], "hashKeyRef": "kv:mtc-privacy-key"}' },
      )
      .prefault({}),
    retry: retrySchema.prefault({}),
    backlog: backlogSchema.prefault({}),
  };
}

/** Batching, compression and timeout options of the HTTP destinations, with per-type defaults and limits. */
export function httpShape(d: { gzip: boolean; maxBatchBytes: number; maxBatchBytesLimit: number; maxBatchRecords: number; maxBatchRecordsLimit: number }) {
  return {
    gzip: booleanField().default(d.gzip),
    maxBatchBytes: intField(1024, d.maxBatchBytesLimit, d.maxBatchBytes).default(d.maxBatchBytes),
    maxBatchRecords: intField(1, d.maxBatchRecordsLimit, d.maxBatchRecords).default(d.maxBatchRecords),
    timeout: durationField(SECOND_MS, 10 * MINUTE_MS, '30s').prefault('30s'),
    allowInsecureLoopback: booleanField().default(false),
  };
}

export const HTTP_OPTION_FIELDS = ['gzip', 'maxBatchBytes', 'maxBatchRecords', 'timeout', 'allowInsecureLoopback'];

export interface HttpOptions {
  gzip: boolean;
  maxBatchBytes: number;
  maxBatchRecords: number;
  timeoutMs: number;
  allowInsecureLoopback: boolean;
}

/**
 * Parses one destination entry against the common shape plus `shape`. Returns the parsed data and
 * the normalised common part, or undefined (with issues added) when anything is wrong.
 */
export function parseEntry<S extends z.ZodRawShape>(
  raw: Record<string, unknown>,
  path: Path,
  out: IssueCollector,
  opts: { type: string; keyVaultUri: string | undefined; defaultFormat: DestinationFormat; shape: S; aliases?: Record<string, string>; secretRefField?: string },
): { data: z.infer<z.ZodObject<S>> & Record<string, unknown>; common: DestinationCommonConfig } | undefined {
  const before = out.issues.length;
  const shape = { ...commonShape(opts.type, opts.keyVaultUri, opts.defaultFormat), ...opts.shape };
  checkUnknownFields(raw, Object.keys(shape), path, out, { aliases: { ...COMMON_ALIASES, ...(opts.aliases ?? {}) }, ...(opts.secretRefField ? { secretRefField: opts.secretRefField } : {}) });
  if (isPlainObject(raw.retry)) checkUnknownFields(raw.retry, RETRY_FIELDS, [...path, 'retry'], out, { aliases: RETRY_ALIASES });
  if (isPlainObject(raw.backlog)) checkUnknownFields(raw.backlog, BACKLOG_FIELDS, [...path, 'backlog'], out, { aliases: { pages: 'maxPages', bytes: 'maxBytes', size: 'maxBytes', maxSize: 'maxBytes', age: 'maxAge', retention: 'maxAge' } });
  if (isPlainObject(raw.privacy)) checkUnknownFields(raw.privacy, PRIVACY_FIELDS, [...path, 'privacy'], out, { aliases: { remove: 'drop', pseudonymize: 'hash', pseudonymise: 'hash', key: 'hashKeyRef' }, secretRefField: 'hashKeyRef' });
  const parsed = z.object(shape).safeParse(raw);
  if (!parsed.success) {
    addZodIssues(out, path, raw, parsed.error.issues);
    return undefined;
  }
  if (out.issues.length > before) return undefined;
  const d = parsed.data as Record<string, unknown> & { id: string; format: DestinationFormat; acceptedDomains: string[]; privacy: { drop: DestinationCommonConfig['privacy']['drop']; hash: DestinationCommonConfig['privacy']['hash']; hashKeyRef?: SecretRef }; retry: z.infer<typeof retrySchema>; backlog: z.output<typeof backlogSchema> };
  const privacy: DestinationCommonConfig['privacy'] = { drop: [...new Set(d.privacy.drop)], hash: [...new Set(d.privacy.hash)], ...(d.privacy.hashKeyRef ? { hashKey: d.privacy.hashKeyRef } : {}) };
  return {
    data: parsed.data as z.infer<z.ZodObject<S>> & Record<string, unknown>,
    common: {
      id: d.id, format: d.format, acceptedDomains: d.acceptedDomains, privacy, retry: toRetryPolicy(d.retry),
      backlog: { maxPages: d.backlog.maxPages, maxBytes: d.backlog.maxBytes, maxAgeMs: d.backlog.maxAge },
    },
  };
}

export function httpOptionsOf(d: Record<string, unknown>): HttpOptions {
  return {
    gzip: d.gzip as boolean,
    maxBatchBytes: d.maxBatchBytes as number,
    maxBatchRecords: d.maxBatchRecords as number,
    timeoutMs: d.timeout as number,
    allowInsecureLoopback: d.allowInsecureLoopback as boolean,
  };
}

/** A required secret reference field (a credential is never inline). */
export function secretRef(keyVaultUri: string | undefined, example: string) {
  return secretRefField(keyVaultUri, example);
}

/** The URL rules; never repeats the URL (some SIEM URLs embed a token). */
export function checkHttpUrl(raw: string, allowInsecureLoopback: boolean, path: Path, out: IssueCollector, example = 'https://siem.example.com/ingest'): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    out.add(path, `is not an absolute URL; write it like "${example}"`);
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
    out.add(path, `must be an https URL, e.g. "${example}"`);
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

/** The same rules for a URL that only exists at run time (resolved from a secret): a problem text, or undefined. */
export function urlProblem(raw: string, allowInsecureLoopback: boolean): string | undefined {
  const out = { issues: [] as { message: string }[], add(_p: Path, message: string) { this.issues.push({ message }); } };
  checkHttpUrl(raw, allowInsecureLoopback, [], out as unknown as IssueCollector);
  return out.issues[0]?.message;
}

/** Collector-set headers that cannot be configured. */
const RESERVED_HEADERS = ['host', 'content-length', 'content-encoding', 'transfer-encoding', 'connection'];
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function checkHeaders(raw: Record<string, unknown>, path: Path, keyVaultUri: string | undefined, out: IssueCollector): Record<string, HeaderValue> {
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
