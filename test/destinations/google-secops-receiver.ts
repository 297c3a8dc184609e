/**
 * A loopback stand-in for Google SecOps ingestion, faithful to what a client sees: the OAuth token
 * endpoint of a service account (JWT bearer grant: RS256 signature checked with the account's public
 * key, aud = the token URL, the ingestion scope, at most one hour of validity) and the Ingestion API v2
 * (`POST /v2/unstructuredlogentries:batchCreate` with a Bearer token, at most 1 MB per request,
 * known customer id and log type, entries with `log_text` and a timestamp, unknown JSON fields
 * refused as protobuf JSON does; `POST /v2/udmevents:batchCreate` with UDM events, each checked
 * against the fields and enums of shared/formats/udm/testdata/udm-fields.json as the protobuf JSON
 * parser would: an unknown field, a wrong type or an unknown enum value is a 400; `GET /v2/logtypes`). Errors use Google's
 * {"error": {"code", "message", "status"}} body. `script` lets a test force the next answers.
 */
import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { componentTestdata } from '../support/testdata';
import { startVendorReceiver, type Recorded, type Reply, type VendorReceiver } from './vendor-receiver';

interface UdmSchema { request: string[]; fields: Record<string, string>; repeated_messages: string[]; enums: Record<string, string[]> }
export const UDM: UdmSchema = JSON.parse(readFileSync(componentTestdata('formats', 'udm', 'udm-fields.json'), 'utf8')) as UdmSchema;

/** The problems of one UDM event against the schema subset (empty when it is valid). */
export function udmProblems(event: unknown, path = ''): string[] {
  if (!event || typeof event !== 'object' || Array.isArray(event)) return [`${path || 'event'}: must be an object`];
  const out: string[] = [];
  for (const [k, v] of Object.entries(event as Record<string, unknown>)) {
    const p = path ? `${path}.${k}` : k;
    const type = UDM.fields[p];
    if (type === 'struct') continue;
    if (UDM.repeated_messages.includes(p)) {
      if (!Array.isArray(v)) { out.push(`${p}: must be a list`); continue; }
      for (const item of v) out.push(...udmProblems(item, p));
      continue;
    }
    if (!type) {
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(UDM.fields).some((f) => f.startsWith(`${p}.`))) out.push(...udmProblems(v, p));
      else out.push(`${p}: Unknown name "${k}": Cannot find field.`);
      continue;
    }
    const repeated = type.startsWith('repeated ');
    const base = repeated ? type.slice('repeated '.length) : type;
    if (repeated !== Array.isArray(v)) { out.push(`${p}: ${repeated ? 'must be a list' : 'must not be a list'}`); continue; }
    for (const x of repeated ? (v as unknown[]) : [v]) {
      if (base === 'label') {
        if (!x || typeof x !== 'object' || typeof (x as { key?: unknown }).key !== 'string' || typeof (x as { value?: unknown }).value !== 'string' || Object.keys(x).length !== 2) out.push(`${p}: must be {key, value}`);
      } else if (typeof x !== 'string') out.push(`${p}: must be a string`);
      else if (base === 'timestamp' && (Number.isNaN(Date.parse(x)) || !/T.*(Z|[+-]\d\d:\d\d)$/.test(x))) out.push(`${p}: "${x}" is not an RFC 3339 timestamp`);
      else if (base.startsWith('enum:') && !UDM.enums[base.slice(5)]!.includes(x)) out.push(`${p}: invalid value "${x}" for enum ${base.slice(5)}`);
    }
  }
  return out;
}

export const SECOPS_CUSTOMER_ID = 'c8c65bfa-5f2c-42d4-9189-64bb7b939f2c';
const SCOPE = 'https://www.googleapis.com/auth/malachite-ingestion';
const LOG_TYPES = ['OFFICE_365_MESSAGETRACE', 'OFFICE_365', 'WINDOWS_DNS'];
const MAX_REQUEST_BYTES = 1_000_000;

export interface SecOpsReceiver {
  url: string;
  /** The service account JSON key, as Google Cloud console downloads it (token_uri points here). */
  keyJson: string;
  privateKeyPem: string;
  receiver: VendorReceiver;
  tokenRequests: number;
  /** Accepted UDM batches (detail events): the parsed request bodies. */
  udmBatches: { customer_id: string; events: Record<string, unknown>[] }[];
  /** Accepted batches: the parsed request bodies. */
  batches: { customer_id: string; log_type: string; namespace?: string; labels?: { key: string; value: string }[]; entries: { log_text: string; ts_rfc3339?: string }[] }[];
  /** Forces the next answers of the ingestion endpoint (first in, first out). */
  script: Reply[];
  /** Revokes every token issued so far (the next call with one gets 401). */
  revokeTokens(): void;
  close(): Promise<void>;
}

const googleError = (code: number, status: string, message: string): Reply => ({ status: code, body: { error: { code, message, status } } });

export async function startSecOpsReceiver(): Promise<SecOpsReceiver> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const clientEmail = 'mtc-ingestion@secops-project.iam.gserviceaccount.com';
  const tokens = new Set<string>();
  const state: SecOpsReceiver = {
    url: '', keyJson: '', privateKeyPem, receiver: undefined as unknown as VendorReceiver, tokenRequests: 0, batches: [], udmBatches: [], script: [],
    revokeTokens: () => tokens.clear(), close: async () => undefined,
  };

  const token = (q: Recorded): Reply => {
    state.tokenRequests++;
    const form = new URLSearchParams(q.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' } };
    const [h, c, s] = (form.get('assertion') ?? '').split('.');
    if (!h || !c || !s) return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT.' } };
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as { iss?: string; scope?: string; aud?: string; iat?: number; exp?: number };
    const valid = header.alg === 'RS256' && createVerify('RSA-SHA256').update(`${h}.${c}`).verify(publicKey, Buffer.from(s, 'base64url'));
    if (!valid || claims.iss !== clientEmail) return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
    const now = Math.floor(Date.now() / 1000);
    if (claims.aud !== `${state.url}/token` || !claims.iat || !claims.exp || claims.exp - claims.iat > 3600 || claims.exp < now || claims.iat > now + 60) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' } };
    }
    if (!(claims.scope ?? '').split(' ').includes(SCOPE)) return { status: 400, body: { error: 'invalid_scope', error_description: 'Invalid OAuth scope or ID token audience provided.' } };
    const t = `ya29.${randomBytes(24).toString('base64url')}`;
    tokens.add(t);
    return { status: 200, body: { access_token: t, expires_in: 3599, token_type: 'Bearer' } };
  };

  const ingest = (q: Recorded): Reply => {
    const auth = /^Bearer (.+)$/.exec(String(q.headers.authorization ?? ''));
    if (!auth || !tokens.has(auth[1]!)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
    const forced = state.script.shift();
    if (forced) return forced;
    if (Buffer.byteLength(q.body) > MAX_REQUEST_BYTES) return googleError(400, 'INVALID_ARGUMENT', `Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(q.body) as Record<string, unknown>;
    } catch {
      return googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const unknown = Object.keys(body).filter((k) => !['customer_id', 'log_type', 'namespace', 'labels', 'entries', 'hint'].includes(k));
    if (unknown.length) return googleError(400, 'INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${unknown[0]}": Cannot find field.`);
    if (body.customer_id !== SECOPS_CUSTOMER_ID) return googleError(403, 'PERMISSION_DENIED', 'Permission denied for the customer.');
    if (!LOG_TYPES.includes(String(body.log_type))) return googleError(400, 'INVALID_ARGUMENT', `Invalid log type: ${String(body.log_type)}`);
    const entries = body.entries;
    if (!Array.isArray(entries) || !entries.length) return googleError(400, 'INVALID_ARGUMENT', 'entries must not be empty');
    for (const e of entries as Record<string, unknown>[]) {
      if (typeof e.log_text !== 'string' || !e.log_text) return googleError(400, 'INVALID_ARGUMENT', 'log_text is required');
      if (e.ts_rfc3339 !== undefined && Number.isNaN(Date.parse(String(e.ts_rfc3339)))) return googleError(400, 'INVALID_ARGUMENT', 'Invalid ts_rfc3339');
    }
    if (body.labels !== undefined && (!Array.isArray(body.labels) || !(body.labels as unknown[]).every((l) => l && typeof l === 'object' && typeof (l as { key?: unknown }).key === 'string' && typeof (l as { value?: unknown }).value === 'string'))) {
      return googleError(400, 'INVALID_ARGUMENT', 'labels must be a list of {key, value}');
    }
    state.batches.push(body as SecOpsReceiver['batches'][number]);
    return { status: 200, body: {} };
  };

  const ingestUdm = (q: Recorded): Reply => {
    const auth = /^Bearer (.+)$/.exec(String(q.headers.authorization ?? ''));
    if (!auth || !tokens.has(auth[1]!)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
    const forced = state.script.shift();
    if (forced) return forced;
    if (Buffer.byteLength(q.body) > MAX_REQUEST_BYTES) return googleError(400, 'INVALID_ARGUMENT', `Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(q.body) as Record<string, unknown>;
    } catch {
      return googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const unknown = Object.keys(body).filter((k) => !UDM.request.includes(k));
    if (unknown.length) return googleError(400, 'INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${unknown[0]}": Cannot find field.`);
    if (body.customer_id !== SECOPS_CUSTOMER_ID) return googleError(403, 'PERMISSION_DENIED', 'Permission denied for the customer.');
    if (!Array.isArray(body.events) || !body.events.length) return googleError(400, 'INVALID_ARGUMENT', 'events must not be empty');
    for (const e of body.events as unknown[]) {
      const problems = udmProblems(e);
      const m = (e as { metadata?: { event_timestamp?: unknown; event_type?: unknown } }).metadata;
      if (!m?.event_timestamp || !m.event_type) problems.push('metadata.event_timestamp and metadata.event_type are required');
      if (problems.length) return googleError(400, 'INVALID_ARGUMENT', `Invalid UDM event: ${problems.join('; ')}`);
    }
    state.udmBatches.push(body as SecOpsReceiver['udmBatches'][number]);
    return { status: 200, body: {} };
  };

  state.receiver = await startVendorReceiver((q) => {
    if (q.method === 'POST' && q.path === '/token') return token(q);
    if (q.method === 'POST' && q.path === '/v2/udmevents:batchCreate') return ingestUdm(q);
    if (q.method === 'POST' && q.path === '/v2/unstructuredlogentries:batchCreate') return ingest(q);
    if (q.method === 'GET' && q.path === '/v2/logtypes') {
      const auth = /^Bearer (.+)$/.exec(String(q.headers.authorization ?? ''));
      if (!auth || !tokens.has(auth[1]!)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
      return { status: 200, body: { logTypes: LOG_TYPES.map((t) => ({ logType: t })) } };
    }
    return googleError(404, 'NOT_FOUND', 'Not found');
  });
  state.url = state.receiver.url;
  state.keyJson = JSON.stringify({ type: 'service_account', project_id: 'secops-project', private_key_id: 'k1', private_key: privateKeyPem, client_email: clientEmail, client_id: '1', token_uri: `${state.url}/token` });
  state.close = () => state.receiver.close();
  return state;
}
