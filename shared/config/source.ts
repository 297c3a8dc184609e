/**
 * One entry of `sources`: a Microsoft 365 tenant to collect message trace from.
 */
import { z } from 'zod';
import { DAY_MS, MINUTE_MS } from '../time/expressions';
import { CLOUD_NAMES, CLOUDS, graphUnavailableMessage, isCloudName, normaliseEndpointUrl, rwsInGlobalCloudMessage, type KnownCloudName } from './clouds';
import { acceptedDomainsField, booleanField, durationField, idField, intField, tenantIdField, timeField } from '../config-common/fields';
import type { AuthConfigBase, AuthMethodKind } from '../config-common/kinds';
import { addZodIssues, isPlainObject, type IssueCollector, type Path } from '../config-common/issues';
import type { CloudName, RwsOptions, SourceConfigOf, SourceEndpoints } from './types';
import { checkUnknownFields } from '../config-common/unknown-fields';
import { RETRY_ALIASES, RETRY_FIELDS, retrySchema, toRetryPolicy } from '../config-common/retry';
import { DETAIL_ALIASES, DETAIL_FIELDS, detailsSchema, rwsDetailsMessage, toDetailOptions } from './details';

/** Keys of the event envelope; `fields` must not reuse them. */
export const ENVELOPE_KEYS = ['tenantId', 'sourceId', 'eventId', 'collectedAt', 'api', 'row', 'fields', 'detail', 'traceEventId', 'rowKey', 'detailIndex', 'detailCount'] as const;

export const SOURCE_DEFAULTS = {
  enabled: true,
  cloud: 'global',
  api: 'graph',
  graphApiVersion: 'v1.0',
  start: '-1d',
  collectionDelay: '10m',
  sliceLength: '10d',
  pageSize: 5000,
  pollInterval: '1m',
  requestTimeout: '300s',
  jobTimeout: '9m',
  nextLinkFailureLimit: 3,
  settle: { rereads: ['1h', '6h', '24h'], bucket: '1h' },
} as const;

/** Destinations one source may feed (each holds a delivery mark of ~90 characters in every slice row). */
export const MAX_DESTINATIONS_PER_SOURCE = 32;

const settleSchema = z.object(
  {
    rereads: z
      .array(durationField(5 * MINUTE_MS, 3 * DAY_MS, '6h'), { error: 'must be a list of ages such as ["1h", "6h", "24h"] (empty turns re-reads off)' })
      .max(6, { error: 'must list at most 6 re-read ages' })
      .prefault([...SOURCE_DEFAULTS.settle.rereads]),
    bucket: durationField(5 * MINUTE_MS, DAY_MS, '1h').prefault(SOURCE_DEFAULTS.settle.bucket),
  },
  { error: 'must be an object such as {"rereads": ["1h", "6h", "24h"], "bucket": "1h"}' },
);

const endpointUrl = (example: string, requireDefaultScope = false, httpsOnly = false) => {
  const msg = `must be an https URL such as "${example}"`;
  return z.string({ error: msg }).transform((raw, ctx): string => {
    const r = normaliseEndpointUrl(raw);
    if ('problem' in r) {
      ctx.issues.push({ code: 'custom', input: raw, message: `${r.problem}` });
      return z.NEVER;
    }
    if (httpsOnly && r.url.startsWith('http:')) {
      ctx.issues.push({ code: 'custom', input: raw, message: `must use https, even on loopback: the identity library only talks to an https authority, so "${r.url}" could never issue a token; use "https://…" (the bundled simulator serves https with --https)` });
      return z.NEVER;
    }
    if (requireDefaultScope && !r.url.endsWith('/.default')) {
      ctx.issues.push({ code: 'custom', input: raw, message: `must end with "/.default" (app-only tokens use the resource's .default scope), e.g. "${example}"` });
      return z.NEVER;
    }
    return r.url;
  });
};

const endpointsSchema = z.object(
  {
    authorityHost: endpointUrl('https://login.microsoftonline.com', false, true).optional(),
    graphBaseUrl: endpointUrl('https://graph.microsoft.com').optional(),
    graphScope: endpointUrl('https://graph.microsoft.com/.default', true).optional(),
  },
  { error: 'must be an object with any of "authorityHost", "graphBaseUrl" and "graphScope"' },
);

const AUTH_EXAMPLE = 'an object like {"method": "clientSecret", "clientId": "<app id>", "clientSecretRef": "env:CONTOSO_SECRET"} (see docs/auth.md for the other methods)';

/** The fields of every method, in registry order: the first method that takes a field gives its schema. */
function authFieldSchemas(methods: readonly AuthMethodKind[], keyVaultUri: string | undefined): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const m of methods) for (const [name, schema] of Object.entries(m.fields(keyVaultUri))) shape[name] ??= schema.optional();
  return shape;
}

const methodFields = new WeakMap<AuthMethodKind, string[]>();
/** The fields one method takes, required ones first (built once per method: its schemas are only read for their names). */
function fieldsOf(method: AuthMethodKind): string[] {
  let names = methodFields.get(method);
  if (!names) methodFields.set(method, names = [...new Set([...method.required, ...Object.keys(method.fields(undefined))])]);
  return names;
}

function authSchema(methods: readonly AuthMethodKind[], keyVaultUri: string | undefined) {
  const names = methods.map((m) => m.method) as [string, ...string[]];
  return z
    .object(
      {
        method: z.enum(names, { error: `must be one of ${names.map((m) => `"${m}"`).join(', ')} (see docs/auth.md)` }),
        ...authFieldSchemas(methods, keyVaultUri),
      },
      { error: `must be ${AUTH_EXAMPLE}` },
    )
    .superRefine((a, ctx) => {
      const method = methods.find((m) => m.method === a.method)!;
      const given = a as Record<string, unknown>;
      for (const f of method.required) {
        if (given[f] === undefined) ctx.addIssue({ code: 'custom', path: [f], input: undefined, message: method.missing?.[f] ?? `must be set for the "${a.method}" method` });
      }
      const allowed = new Set(['method', ...fieldsOf(method)]);
      for (const [k, v] of Object.entries(given)) {
        if (v !== undefined && !allowed.has(k)) {
          ctx.addIssue({ code: 'custom', path: [k], input: v, message: `is not used by the "${a.method}" method; remove it (the "${a.method}" method takes ${[...allowed].filter((x) => x !== 'method').map((x) => `"${x}"`).join(', ') || 'no other field'})` });
        }
      }
      method.refine?.(given, ctx);
    });
}

export const RWS_DEFAULTS = { format: 'light', paging: 'skiptoken', maxPageSize: 2000 } as const;

const rwsSchema = z.object(
  {
    reportUrl: endpointUrl('https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace').optional(),
    scope: endpointUrl('https://outlook.office365.com/.default', true).optional(),
    format: z.enum(['light', 'verbose'], { error: 'must be "light" (JSON light, the default) or "verbose" ($format=json)' }).default(RWS_DEFAULTS.format),
    paging: z.enum(['skiptoken', 'skip'], { error: 'must be "skiptoken" (the default) or "skip"' }).default(RWS_DEFAULTS.paging),
    maxPageSize: intField(1, 5000, 2000).default(RWS_DEFAULTS.maxPageSize),
    allowInGlobalCloud: booleanField().default(false),
  },
  { error: 'must be an object with any of "reportUrl", "scope", "format", "paging", "maxPageSize" and "allowInGlobalCloud"' },
);

function sourceSchema(methods: readonly AuthMethodKind[], keyVaultUri: string | undefined) {
  return z.object(
    {
      id: idField('source'),
      enabled: booleanField().default(SOURCE_DEFAULTS.enabled),
      tenantId: tenantIdField(),
      cloud: z.enum(CLOUD_NAMES as [string, ...string[]], { error: `must be one of ${CLOUD_NAMES.map((c) => `"${c}"`).join(', ')}` }).default(SOURCE_DEFAULTS.cloud),
      endpoints: endpointsSchema.optional(),
      api: z.enum(['graph', 'rws'], { error: 'must be "graph" (Microsoft Graph, the default) or "rws" (the legacy Reporting Web Service)' }).default(SOURCE_DEFAULTS.api),
      graphApiVersion: z.enum(['v1.0', 'beta'], { error: 'must be "v1.0" (the default) or "beta"' }).default('v1.0'),
      rws: rwsSchema.optional(),
      auth: authSchema(methods, keyVaultUri),
      start: timeField().prefault(SOURCE_DEFAULTS.start),
      collectionDelay: durationField(0, DAY_MS, '10m').prefault(SOURCE_DEFAULTS.collectionDelay),
      sliceLength: durationField(MINUTE_MS, 10 * DAY_MS, '1h').prefault(SOURCE_DEFAULTS.sliceLength),
      pageSize: intField(1, 5000, 5000).default(SOURCE_DEFAULTS.pageSize),
      pollInterval: durationField(MINUTE_MS, DAY_MS, '1m').prefault(SOURCE_DEFAULTS.pollInterval),
      acceptedDomains: acceptedDomainsField(),
      fields: z
        .record(
          z.string(),
          z.union([z.string(), z.number().refine(Number.isFinite), z.boolean()], { error: 'must be a string, a number or true/false' }),
          { error: 'must be an object of extra fields, e.g. {"_sourceCategory": "o365/messagetrace"}' },
        )
        .default({}),
      retry: retrySchema.prefault({}),
      requestTimeout: durationField(5 * 1000, 40 * MINUTE_MS, '300s').prefault(SOURCE_DEFAULTS.requestTimeout),
      jobTimeout: durationField(5 * 1000, 2 * 60 * MINUTE_MS, '9m').optional(),
      nextLinkFailureLimit: intField(1, 20, 3).default(SOURCE_DEFAULTS.nextLinkFailureLimit),
      logLevel: z.enum(['debug', 'info', 'warn', 'error'], { error: 'must be "debug", "info" (the default), "warn" or "error"' }).default('info'),
      settle: settleSchema.prefault({}),
      details: detailsSchema.optional(),
      destinations: z
        .array(z.string({ error: 'must be the id of a destination defined under "destinations"' }), {
          error: 'must be a list of destination ids, e.g. ["siem"]',
        })
        .min(1, { error: 'must name at least one destination, e.g. ["siem"]' })
        // Each destination keeps a delivery mark in every slice row (bounded: invariant 9).
        .max(MAX_DESTINATIONS_PER_SOURCE, { error: `must name at most ${MAX_DESTINATIONS_PER_SOURCE} destinations; split the source's destinations across a second deployment or a fan-out destination (Cribl)` }),
    },
    { error: 'must be an object describing a source (id, tenantId, auth, destinations, …)' },
  );
}

/**
 * The schema for one list of auth methods and Key Vault, built once: a configuration of 1000
 * sources parses 1000 sources against the same schema (building it cost as much as parsing).
 */
const sourceSchemas = new WeakMap<readonly AuthMethodKind[], Map<string, ReturnType<typeof sourceSchema>>>();
function sourceSchemaFor(methods: readonly AuthMethodKind[], keyVaultUri: string | undefined): ReturnType<typeof sourceSchema> {
  let byVault = sourceSchemas.get(methods);
  if (!byVault) sourceSchemas.set(methods, byVault = new Map());
  const key = keyVaultUri ?? '';
  let schema = byVault.get(key);
  if (!schema) byVault.set(key, schema = sourceSchema(methods, keyVaultUri));
  return schema;
}

export const SOURCE_FIELDS = Object.keys(sourceSchema([], undefined).shape);
export const RWS_FIELDS = Object.keys(rwsSchema.shape);
export const ENDPOINT_FIELDS = Object.keys(endpointsSchema.shape);

const SOURCE_ALIASES: Record<string, string> = {
  tenant: 'tenantId',
  tenantDomain: 'tenantId',
  environment: 'cloud',
  planType: 'cloud',
  delay: 'collectionDelay',
  minAge: 'collectionDelay',
  min_age: 'collectionDelay',
  slice: 'sliceLength',
  sliceSize: 'sliceLength',
  window: 'sliceLength',
  windowSize: 'sliceLength',
  top: 'pageSize',
  batchSize: 'pageSize',
  interval: 'pollInterval',
  startTime: 'start',
  startDate: 'start',
  destination: 'destinations',
  version: 'graphApiVersion',
  apiVersion: 'graphApiVersion',
  domains: 'acceptedDomains',
  localDomains: 'acceptedDomains',
  local_domains: 'acceptedDomains',
  metadata: 'fields',
  tags: 'fields',
  detail: 'details',
  enrichment: 'details',
  detailEnrichment: 'details',
};

/** Checks one source against the auth methods given; returns the normalised source when it has no problem. */
export function parseSource<A extends AuthConfigBase>(raw: unknown, path: Path, keyVaultUri: string | undefined, out: IssueCollector, authMethods: readonly AuthMethodKind<A>[]): SourceConfigOf<A> | undefined {
  const methods = authMethods as unknown as readonly AuthMethodKind[];
  const authFields = ['method', ...new Set(methods.flatMap(fieldsOf))];
  const before = out.issues.length;
  if (isPlainObject(raw)) {
    checkUnknownFields(raw, SOURCE_FIELDS, path, out, { aliases: SOURCE_ALIASES, nested: { auth: authFields, endpoints: ENDPOINT_FIELDS, retry: RETRY_FIELDS, rws: RWS_FIELDS, details: DETAIL_FIELDS.filter((f) => f !== 'enabled') }, secretRefField: 'auth.clientSecretRef' });
    if (isPlainObject(raw.auth)) checkUnknownFields(raw.auth, authFields, [...path, 'auth'], out, { aliases: Object.assign({ type: 'method' }, ...methods.map((m) => m.aliases ?? {})) });
    if (isPlainObject(raw.rws)) checkUnknownFields(raw.rws, RWS_FIELDS, [...path, 'rws'], out, { aliases: { url: 'reportUrl', reportURL: 'reportUrl', top: 'maxPageSize', pageSize: 'maxPageSize' } });
    if (isPlainObject(raw.settle)) checkUnknownFields(raw.settle, ['rereads', 'bucket'], [...path, 'settle'], out, { aliases: { ages: 'rereads', rescans: 'rereads', bucketLength: 'bucket' } });
    if (isPlainObject(raw.retry)) checkUnknownFields(raw.retry, RETRY_FIELDS, [...path, 'retry'], out, { aliases: RETRY_ALIASES });
    if (isPlainObject(raw.details)) checkUnknownFields(raw.details, DETAIL_FIELDS, [...path, 'details'], out, { aliases: DETAIL_ALIASES });
    if (isPlainObject(raw.endpoints)) checkUnknownFields(raw.endpoints, ENDPOINT_FIELDS, [...path, 'endpoints'], out, { aliases: { authority: 'authorityHost', loginUrl: 'authorityHost', graphUrl: 'graphBaseUrl', scope: 'graphScope' } });
  }
  const parsed = sourceSchemaFor(methods, keyVaultUri).safeParse(raw);
  if (!parsed.success) addZodIssues(out, path, raw, parsed.error.issues);

  let endpoints: SourceEndpoints | undefined;
  if (isPlainObject(raw)) {
    const cloud = raw.cloud === undefined ? SOURCE_DEFAULTS.cloud : raw.cloud;
    const api = raw.api === undefined ? SOURCE_DEFAULTS.api : raw.api;
    const knownCloud = cloud !== 'custom' && isCloudName(cloud) ? CLOUDS[cloud as KnownCloudName] : undefined;
    if (knownCloud && api === 'graph' && !knownCloud.graphMessageTrace) {
      out.add([...path, 'cloud'], graphUnavailableMessage(cloud as KnownCloudName));
    }
    const rawRws = isPlainObject(raw.rws) ? raw.rws : undefined;
    if (api === 'rws' && knownCloud?.graphMessageTrace && rawRws?.allowInGlobalCloud !== true) {
      out.add([...path, 'api'], rwsInGlobalCloudMessage());
    }
    if (api === 'rws' && isPlainObject(raw.details) && raw.details.enabled === true) {
      out.add([...path, 'details'], rwsDetailsMessage());
    }
    if (api !== 'rws' && raw.rws !== undefined) {
      out.add([...path, 'rws'], 'applies only to "api": "rws"; remove it or set "api": "rws"');
    }
    if (cloud === 'custom') {
      const given = isPlainObject(raw.endpoints) ? raw.endpoints : {};
      const needed = api === 'rws' ? ['authorityHost'] : ENDPOINT_FIELDS;
      const missing = needed.filter((k) => given[k] === undefined);
      if (missing.length > 0) {
        out.add([...path, 'endpoints'], api === 'rws'
          ? 'cloud "custom" with "api": "rws" needs "endpoints.authorityHost" (or use a named cloud such as "gcchigh")'
          : `cloud "custom" needs all three endpoints; add ${missing.map((k) => `"${k}"`).join(', ')} (or use a named cloud such as "global")`);
      }
      if (api === 'rws') {
        const missingRws = ['reportUrl', 'scope'].filter((k) => rawRws?.[k] === undefined);
        if (missingRws.length > 0) out.add([...path, 'rws'], `cloud "custom" with "api": "rws" needs ${missingRws.map((k) => `"rws.${k}"`).join(' and ')} (or use a named cloud such as "gcchigh")`);
      }
      const rawAuth = isPlainObject(raw.auth) ? raw.auth : {};
      for (const need of methods.find((m) => m.method === rawAuth.method)?.customCloud ?? []) {
        if (rawAuth[need.field] === undefined) out.add([...path, 'auth', need.field], need.message);
      }
    }
    if (parsed.success) {
      const p = parsed.data;
      const base = p.cloud === 'custom' ? undefined : CLOUDS[p.cloud as KnownCloudName].endpoints;
      const e = p.endpoints ?? {};
      const authorityHost = e.authorityHost ?? base?.authorityHost ?? '';
      const graphBaseUrl = e.graphBaseUrl ?? base?.graphBaseUrl ?? '';
      const graphScope = e.graphScope ?? base?.graphScope ?? '';
      if (authorityHost && ((graphBaseUrl && graphScope) || p.api === 'rws')) endpoints = { authorityHost, graphBaseUrl, graphScope };
    }
    if (isPlainObject(raw.fields)) {
      for (const key of Object.keys(raw.fields)) {
        const clash = ENVELOPE_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
        if (clash) {
          out.add([...path, 'fields', key], `"${key}" is a key of the event envelope (${ENVELOPE_KEYS.join(', ')}); rename the field, e.g. "_${key}" or "custom_${key}"`);
        } else if (key.trim() === '' || key.length > 128) {
          out.add([...path, 'fields', key.length > 128 ? key.slice(0, 16) + '…' : key], 'field names must have 1-128 characters');
        }
      }
    }
    if (Array.isArray(raw.destinations)) {
      const seen = new Map<unknown, number>();
      raw.destinations.forEach((d, j) => {
        if (seen.has(d)) out.add([...path, 'destinations', j], `repeats the destination already listed at destinations[${seen.get(d)}]; list each destination once`);
        else seen.set(d, j);
      });
    }
  }
  if (!parsed.success || out.issues.length > before || !endpoints) return undefined;
  const p = parsed.data;
  return {
    id: p.id,
    enabled: p.enabled,
    tenantId: p.tenantId,
    cloud: p.cloud as CloudName,
    endpoints,
    api: p.api,
    graphApiVersion: p.graphApiVersion,
    ...(p.api === 'rws' ? { rws: toRwsOptions(p.cloud as CloudName, p.rws) } : {}),
    auth: methods.find((m) => m.method === p.auth.method)!.build(p.auth, { tokenExchangeAudience: p.cloud === 'custom' ? '' : CLOUDS[p.cloud as KnownCloudName].tokenExchangeAudience }) as A,
    start: p.start,
    collectionDelayMs: p.collectionDelay,
    logLevel: p.logLevel,
    sliceMs: p.sliceLength,
    pageSize: p.pageSize,
    pollIntervalMs: p.pollInterval,
    // Only when set, so the config hash of a source without it is what it was before the field existed.
    ...(p.acceptedDomains.length ? { acceptedDomains: p.acceptedDomains } : {}),
    fields: p.fields,
    retry: toRetryPolicy(p.retry),
    requestTimeoutMs: p.requestTimeout,
    // Only when set, so the config hash of a source without it is what it was before the field existed.
    ...(p.jobTimeout !== undefined ? { jobTimeoutMs: p.jobTimeout } : {}),
    nextLinkFailureLimit: p.nextLinkFailureLimit,
    settleRereadsMs: [...new Set(p.settle.rereads)].sort((a, b) => a - b),
    settleBucketMs: p.settle.bucket,
    destinations: p.destinations,
    // Only when set, so the config hash of a source without it is what it was before the field existed.
    ...(p.details !== undefined ? { details: toDetailOptions(p.details) } : {}),
  };
}

function toRwsOptions(cloud: CloudName, r: z.output<typeof rwsSchema> | undefined): RwsOptions {
  const base = cloud === 'custom' ? undefined : CLOUDS[cloud].rws;
  return {
    reportUrl: r?.reportUrl ?? base?.reportUrl ?? '',
    scope: r?.scope ?? base?.scope ?? '',
    format: r?.format ?? RWS_DEFAULTS.format,
    paging: r?.paging ?? RWS_DEFAULTS.paging,
    maxPageSize: r?.maxPageSize ?? RWS_DEFAULTS.maxPageSize,
  };
}
