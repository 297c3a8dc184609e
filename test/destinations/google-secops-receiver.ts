/**
 * A loopback stand-in for Google SecOps ingestion, faithful to what a client sees: the OAuth token
 * endpoint of a service account (JWT bearer grant: RS256 signature checked with the account's public
 * key, aud = the token URL, the ingestion scope, at most one hour of validity) and the Ingestion API v2
 * (`POST /v2/unstructuredlogentries:batchCreate` with a Bearer token, at most 1 MB per request,
 * known customer id and log type, entries with `log_text` and a timestamp, unknown JSON fields
 * refused as protobuf JSON does; `GET /v2/logtypes`). Errors use Google's
 * {"error": {"code", "message", "status"}} body. `script` lets a test force the next answers.
 */
import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { startVendorReceiver, type Recorded, type Reply, type VendorReceiver } from './vendor-receiver';

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
    url: '', keyJson: '', privateKeyPem, receiver: undefined as unknown as VendorReceiver, tokenRequests: 0, batches: [], script: [],
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

  state.receiver = await startVendorReceiver((q) => {
    if (q.method === 'POST' && q.path === '/token') return token(q);
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
