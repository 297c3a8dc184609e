/**
 * One entry of `sources`: a Microsoft 365 tenant to collect message trace from.
 */
import { z } from 'zod';
import { DAY_MS, MINUTE_MS } from '../time/expressions';
import { CLOUD_NAMES, CLOUDS, graphUnavailableMessage, isCloudName, normaliseEndpointUrl, type KnownCloudName } from './clouds';
import { booleanField, durationField, guidField, idField, intField, secretRefField, tenantIdField, timeField } from './fields';
import { addZodIssues, isPlainObject, type IssueCollector, type Path } from './issues';
import type { SourceConfig, SourceEndpoints } from './types';
import { checkUnknownFields } from './unknown-fields';
import { RETRY_FIELDS, retrySchema, toRetryPolicy } from './retry';

/** Keys of the event envelope; `fields` must not reuse them. */
export const ENVELOPE_KEYS = ['tenantId', 'sourceId', 'eventId', 'collectedAt', 'api', 'row', 'fields'] as const;

export const SOURCE_DEFAULTS = {
  enabled: true,
  cloud: 'global',
  api: 'graph',
  graphApiVersion: 'v1.0',
  start: '-1d',
  collectionDelay: '10m',
  sliceLength: '1h',
  pageSize: 5000,
  pollInterval: '1m',
  requestTimeout: '300s',
  nextLinkFailureLimit: 3,
} as const;

const endpointUrl = (example: string, requireDefaultScope = false) => {
  const msg = `must be an https URL such as "${example}"`;
  return z.string({ error: msg }).transform((raw, ctx): string => {
    const r = normaliseEndpointUrl(raw);
    if ('problem' in r) {
      ctx.issues.push({ code: 'custom', input: raw, message: `${r.problem}` });
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
    authorityHost: endpointUrl('https://login.microsoftonline.com').optional(),
    graphBaseUrl: endpointUrl('https://graph.microsoft.com').optional(),
    graphScope: endpointUrl('https://graph.microsoft.com/.default', true).optional(),
  },
  { error: 'must be an object with any of "authorityHost", "graphBaseUrl" and "graphScope"' },
);

function sourceSchema(keyVaultUri: string | undefined) {
  return z.object(
    {
      id: idField('source'),
      enabled: booleanField().default(SOURCE_DEFAULTS.enabled),
      tenantId: tenantIdField(),
      cloud: z.enum(CLOUD_NAMES as [string, ...string[]], { error: `must be one of ${CLOUD_NAMES.map((c) => `"${c}"`).join(', ')}` }).default(SOURCE_DEFAULTS.cloud),
      endpoints: endpointsSchema.optional(),
      api: z
        .unknown()
        .transform((v, ctx): 'graph' => {
          if (v === undefined || v === 'graph') return 'graph';
          ctx.issues.push({
            code: 'custom',
            input: v,
            message:
              v === 'rws'
                ? 'the legacy RWS API ("rws") is planned but not available yet; use "graph" (the default)'
                : 'must be "graph" (the default; "rws" is planned)',
          });
          return z.NEVER;
        })
        .prefault(SOURCE_DEFAULTS.api),
      graphApiVersion: z.enum(['v1.0', 'beta'], { error: 'must be "v1.0" (the default) or "beta"' }).default('v1.0'),
      auth: z.object(
        {
          method: z.literal('clientSecret', {
            error: 'must be "clientSecret" (the only method available now; certificate and federated credentials are planned)',
          }),
          clientId: guidField('application (client) id of the app registration'),
          clientSecretRef: secretRefField(keyVaultUri, 'env:CONTOSO_SECRET'),
        },
        { error: 'must be an object like {"method": "clientSecret", "clientId": "<app id>", "clientSecretRef": "env:CONTOSO_SECRET"}' },
      ),
      start: timeField().prefault(SOURCE_DEFAULTS.start),
      collectionDelay: durationField(0, DAY_MS, '10m').prefault(SOURCE_DEFAULTS.collectionDelay),
      sliceLength: durationField(MINUTE_MS, 10 * DAY_MS, '1h').prefault(SOURCE_DEFAULTS.sliceLength),
      pageSize: intField(1, 5000, 5000).default(SOURCE_DEFAULTS.pageSize),
      pollInterval: durationField(MINUTE_MS, DAY_MS, '1m').prefault(SOURCE_DEFAULTS.pollInterval),
      fields: z
        .record(
          z.string(),
          z.union([z.string(), z.number().refine(Number.isFinite), z.boolean()], { error: 'must be a string, a number or true/false' }),
          { error: 'must be an object of extra fields, e.g. {"_sourceCategory": "o365/messagetrace"}' },
        )
        .default({}),
      retry: retrySchema.prefault({}),
      requestTimeout: durationField(5 * 1000, 40 * MINUTE_MS, '300s').prefault(SOURCE_DEFAULTS.requestTimeout),
      nextLinkFailureLimit: intField(1, 20, 3).default(SOURCE_DEFAULTS.nextLinkFailureLimit),
      destinations: z
        .array(z.string({ error: 'must be the id of a destination defined under "destinations"' }), {
          error: 'must be a list of destination ids, e.g. ["siem"]',
        })
        .min(1, { error: 'must name at least one destination, e.g. ["siem"]' }),
    },
    { error: 'must be an object describing a source (id, tenantId, auth, destinations, …)' },
  );
}

export const SOURCE_FIELDS = Object.keys(sourceSchema(undefined).shape);
export const AUTH_FIELDS = ['method', 'clientId', 'clientSecretRef'];
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
  metadata: 'fields',
  tags: 'fields',
};

/** Checks one source; returns the normalised source when it has no problem. */
export function parseSource(raw: unknown, path: Path, keyVaultUri: string | undefined, out: IssueCollector): SourceConfig | undefined {
  const before = out.issues.length;
  if (isPlainObject(raw)) {
    checkUnknownFields(raw, SOURCE_FIELDS, path, out, { aliases: SOURCE_ALIASES, nested: { auth: AUTH_FIELDS, endpoints: ENDPOINT_FIELDS, retry: RETRY_FIELDS }, secretRefField: 'auth.clientSecretRef' });
    if (isPlainObject(raw.auth)) checkUnknownFields(raw.auth, AUTH_FIELDS, [...path, 'auth'], out, { aliases: { secretRef: 'clientSecretRef', appId: 'clientId', type: 'method' } });
    if (isPlainObject(raw.retry)) checkUnknownFields(raw.retry, RETRY_FIELDS, [...path, 'retry'], out, { aliases: { backoff: 'mode', type: 'mode', interval: 'initialInterval', maxBackoff: 'maxInterval', retryTimeout: 'horizon', codes: 'statusCodes' } });
    if (isPlainObject(raw.endpoints)) checkUnknownFields(raw.endpoints, ENDPOINT_FIELDS, [...path, 'endpoints'], out, { aliases: { authority: 'authorityHost', loginUrl: 'authorityHost', graphUrl: 'graphBaseUrl', scope: 'graphScope' } });
  }
  const parsed = sourceSchema(keyVaultUri).safeParse(raw);
  if (!parsed.success) addZodIssues(out, path, raw, parsed.error.issues);

  let endpoints: SourceEndpoints | undefined;
  if (isPlainObject(raw)) {
    const cloud = raw.cloud === undefined ? SOURCE_DEFAULTS.cloud : raw.cloud;
    const api = raw.api === undefined ? SOURCE_DEFAULTS.api : raw.api;
    if (cloud !== 'custom' && isCloudName(cloud) && api === 'graph' && !CLOUDS[cloud as KnownCloudName].graphMessageTrace) {
      out.add([...path, 'cloud'], graphUnavailableMessage(cloud as KnownCloudName));
    }
    if (cloud === 'custom') {
      const given = isPlainObject(raw.endpoints) ? raw.endpoints : {};
      const missing = ENDPOINT_FIELDS.filter((k) => given[k] === undefined);
      if (missing.length > 0) {
        out.add([...path, 'endpoints'], `cloud "custom" needs all three endpoints; add ${missing.map((k) => `"${k}"`).join(', ')} (or use a named cloud such as "global")`);
      }
    }
    if (parsed.success) {
      const p = parsed.data;
      const base = p.cloud === 'custom' ? undefined : CLOUDS[p.cloud as KnownCloudName].endpoints;
      const e = p.endpoints ?? {};
      const authorityHost = e.authorityHost ?? base?.authorityHost;
      const graphBaseUrl = e.graphBaseUrl ?? base?.graphBaseUrl;
      const graphScope = e.graphScope ?? base?.graphScope;
      if (authorityHost && graphBaseUrl && graphScope) endpoints = { authorityHost, graphBaseUrl, graphScope };
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
    cloud: p.cloud as SourceConfig['cloud'],
    endpoints,
    api: p.api,
    graphApiVersion: p.graphApiVersion,
    auth: { method: 'clientSecret', clientId: p.auth.clientId, clientSecret: p.auth.clientSecretRef },
    start: p.start,
    collectionDelayMs: p.collectionDelay,
    sliceMs: p.sliceLength,
    pageSize: p.pageSize,
    pollIntervalMs: p.pollInterval,
    fields: p.fields,
    retry: toRetryPolicy(p.retry),
    requestTimeoutMs: p.requestTimeout,
    nextLinkFailureLimit: p.nextLinkFailureLimit,
    destinations: p.destinations,
  };
}
