/**
 * `google-secops`: Google Security Operations (Chronicle) Ingestion API, unstructured log entries
 * (`POST /v2/unstructuredlogentries:batchCreate` on the instance's regional endpoint). Options:
 * docs/destinations.md#google-secops; what Google's parser does with the rows: docs/siem/google-secops.md.
 */
import { z } from 'zod';
import type { DestinationCommonConfig } from '../config-common';
import type { SecretRef } from '../../config-common/types';
import { GUID_PATTERN } from '../../config-common/fields';
import { checkHttpUrl, httpOptionsOf, httpShape, parseEntry, secretRef, type HttpOptions } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

/**
 * Regional endpoints of the Ingestion API, by the region of the Google SecOps instance (Google's
 * "regional endpoints" list of the Ingestion API: the multi-regions `us` and `europe`, and the
 * single regions by their Google Cloud name).
 */
export const GOOGLE_SECOPS_REGIONS: Record<string, string> = {
  us: 'https://malachiteingestion-pa.googleapis.com',
  europe: 'https://europe-malachiteingestion-pa.googleapis.com',
  ...Object.fromEntries([
    'asia-northeast1', 'asia-south1', 'asia-southeast1', 'australia-southeast1', 'europe-west2', 'europe-west3', 'europe-west6',
    'europe-west9', 'europe-west12', 'me-central1', 'me-central2', 'me-west1', 'northamerica-northeast2', 'southamerica-east1',
  ].map((r) => [r, `https://${r}-malachiteingestion-pa.googleapis.com`])),
};

/** Google's ingestion label of its Office 365 message trace parser (reads the legacy report record). */
export const GOOGLE_SECOPS_MESSAGETRACE_LOG_TYPE = 'OFFICE_365_MESSAGETRACE';

/** The Ingestion API takes at most 1 MB per request. */
export const GOOGLE_SECOPS_MAX_REQUEST_BYTES = 1_000_000;

/** OAuth scope of the Ingestion API for a service account. */
export const GOOGLE_SECOPS_SCOPE = 'https://www.googleapis.com/auth/malachite-ingestion';

export interface GoogleSecOpsDestinationConfig extends DestinationCommonConfig, HttpOptions {
  type: 'google-secops';
  /** The Google SecOps customer id (a UUID: SIEM Settings > Profile). */
  customerId: string;
  region: string;
  /** The API base URL: from the region, or `url` (a proxy, or a test receiver). */
  url: string;
  /** The secret that holds the ingestion service account's JSON key (client_email, private_key, token_uri). */
  serviceAccount: SecretRef;
  logType: string;
  /** Data-domain namespace of the entries (optional). */
  namespace?: string;
  /** Ingestion labels added to every entry. */
  labels: Record<string, string>;
}

export const googleSecOpsConfig: DestinationKind<GoogleSecOpsDestinationConfig> = {
  type: 'google-secops',
  example: '{"id": "secops", "type": "google-secops", "customerId": "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c", "region": "europe", "serviceAccountRef": "kv:secops-ingestion-sa"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const regions = Object.keys(GOOGLE_SECOPS_REGIONS);
    const entry = parseEntry(raw, path, out, {
      type: 'google-secops', keyVaultUri, defaultFormat: 'o365-messagetrace', secretRefField: 'serviceAccountRef',
      aliases: { customer_id: 'customerId', customerID: 'customerId', log_type: 'logType', credentialsRef: 'serviceAccountRef', serviceAccountKeyRef: 'serviceAccountRef', credentials: 'serviceAccountRef', location: 'region' },
      shape: {
        customerId: z.string({ error: 'must be the Google SecOps customer id, a UUID like "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c" (SIEM Settings > Profile)' }).regex(GUID_PATTERN, { error: 'must be the Google SecOps customer id, a UUID like "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c" (SIEM Settings > Profile)' }).transform((s) => s.toLowerCase()),
        region: z.enum(regions as [string, ...string[]], { error: `must be the region of your Google SecOps instance: ${regions.map((r) => `"${r}"`).join(', ')}` }).default('us'),
        url: z.string({ error: 'must be an https URL of the Ingestion API or a proxy; leave it out to use the region\'s endpoint' }).optional(),
        serviceAccountRef: secretRef(keyVaultUri, 'kv:secops-ingestion-sa'),
        logType: z.string({ error: `must be a Google SecOps log type (ingestion label), e.g. "${GOOGLE_SECOPS_MESSAGETRACE_LOG_TYPE}"` }).regex(/^[A-Z0-9_]{2,100}$/, { error: `must be a Google SecOps log type in upper case, e.g. "${GOOGLE_SECOPS_MESSAGETRACE_LOG_TYPE}"` }).default(GOOGLE_SECOPS_MESSAGETRACE_LOG_TYPE),
        namespace: z.string({ error: 'must be a namespace (data domain) name, e.g. "contoso"' }).regex(/^[A-Za-z0-9_.-]{1,100}$/, { error: 'must be a namespace of 1-100 letters, digits, "_", "." or "-"' }).optional(),
        labels: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, { error: 'must be a label key of 1-63 letters, digits, "_", "." or "-"' }), z.string({ error: 'must be a label value (a string)' }).max(256, { error: 'must be a label value of at most 256 characters' }), { error: 'must be an object of labels, e.g. {"tenant": "contoso"}' }).default({}),
        ...httpShape({ gzip: false, maxBatchBytes: GOOGLE_SECOPS_MAX_REQUEST_BYTES, maxBatchBytesLimit: GOOGLE_SECOPS_MAX_REQUEST_BYTES, maxBatchRecords: 1000, maxBatchRecordsLimit: 100_000 }),
      },
    });
    const url = typeof raw.url === 'string' ? checkHttpUrl(raw.url, raw.allowInsecureLoopback === true, [...path, 'url'], out, 'https://europe-malachiteingestion-pa.googleapis.com') : undefined;
    if (!entry || (raw.url !== undefined && url === undefined) || out.issues.length > before) return undefined;
    const d = entry.data;
    return {
      ...entry.common, type: 'google-secops', customerId: d.customerId, region: d.region, url: (url ?? GOOGLE_SECOPS_REGIONS[d.region]!).replace(/\/+$/, ''),
      serviceAccount: d.serviceAccountRef, logType: d.logType, ...(d.namespace ? { namespace: d.namespace } : {}), labels: d.labels, ...httpOptionsOf(d),
    };
  },
};
