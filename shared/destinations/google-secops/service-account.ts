/**
 * Access tokens for a Google service account (OAuth 2.0 JWT bearer grant, RFC 7523, as Google's
 * "Using OAuth 2.0 for Server to Server Applications" describes): a JWT signed RS256 with the key's
 * private key ({iss: client_email, scope, aud: token_uri, iat, exp <= 1 h}) is exchanged at the key's
 * token_uri for an access token, which is cached until a minute before it expires.
 * The key JSON comes from a secret reference; nothing of it reaches an error text.
 */
import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { SecretSource } from '../../auth/secrets';
import type { SecretRef } from '../../config-common/types';
import { excerptOf, firstPartyGeneric } from '../../errors';
import { urlProblem } from '../config-common';
import { httpRequest } from '../transport';

const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

const keySchema = z.object({
  type: z.literal('service_account').optional(),
  client_email: z.string().regex(/^[^@\s]+@[^@\s]+$/),
  private_key: z.string().min(1),
  token_uri: z.string().optional(),
});

export interface ServiceAccountKey { clientEmail: string; privateKey: KeyObject; tokenUri: string }

/** The key JSON as Google's console downloads it; a clear error (without any of its content) otherwise. */
export function parseServiceAccountKey(destinationId: string, text: string, allowInsecureLoopback: boolean): ServiceAccountKey {
  const bad = (what: string) => firstPartyGeneric(`Destination ${destinationId} (Google SecOps): the service account secret ${what}.`, {
    code: 'ServiceAccountKeyInvalid', retryable: false,
    fix: 'Store the JSON key of the ingestion service account (the file Google Cloud console downloads: type, client_email, private_key, token_uri) in the secret "serviceAccountRef" points to.',
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('is not JSON');
  }
  const k = keySchema.safeParse(json);
  if (!k.success) throw bad(`lacks ${k.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(k.data.private_key);
  } catch {
    throw bad('has a private_key that is not a PEM private key');
  }
  const tokenUri = k.data.token_uri ?? GOOGLE_TOKEN_URI;
  if (urlProblem(tokenUri, allowInsecureLoopback)) throw bad('has a token_uri that is not an https URL');
  return { clientEmail: k.data.client_email, privateKey, tokenUri };
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

export function signedAssertion(key: ServiceAccountKey, scope: string, nowSec: number): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ iss: key.clientEmail, scope, aud: key.tokenUri, iat: nowSec, exp: nowSec + 3600 }));
  const signature = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(key.privateKey);
  return `${head}.${claims}.${b64url(signature)}`;
}

export class ServiceAccountTokens {
  private cached?: { token: string; expiresAtMs: number };
  constructor(
    private readonly destinationId: string,
    private readonly secrets: SecretSource,
    private readonly ref: SecretRef,
    private readonly scope: string,
    private readonly opts: { allowInsecureLoopback: boolean; timeoutMs: number; now?: () => number },
  ) {}

  /** Forget the token (after a 401), and the key too, so a rotated key is re-read. */
  invalidate(): void {
    this.cached = undefined;
    this.secrets.invalidate(this.ref);
  }

  async token(signal?: AbortSignal): Promise<string> {
    const now = (this.opts.now ?? Date.now)();
    if (this.cached && this.cached.expiresAtMs - 60_000 > now) return this.cached.token;
    const key = parseServiceAccountKey(this.destinationId, await this.secrets.get(this.ref), this.opts.allowInsecureLoopback);
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signedAssertion(key, this.scope, Math.floor(now / 1000)) }).toString();
    const reply = await httpRequest(this.destinationId, key.tokenUri, { body, headers: { 'content-type': 'application/x-www-form-urlencoded' }, timeoutMs: this.opts.timeoutMs, ...(signal ? { signal } : {}) });
    let parsed: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
    try {
      parsed = JSON.parse(reply.body) as typeof parsed;
    } catch {
      // classified below
    }
    if (reply.status === 200 && typeof parsed.access_token === 'string') {
      const ttlSec = typeof parsed.expires_in === 'number' ? parsed.expires_in : 3600;
      this.cached = { token: parsed.access_token, expiresAtMs: now + ttlSec * 1000 };
      return parsed.access_token;
    }
    const permanent = reply.status === 400 || reply.status === 401 || reply.status === 403;
    if (permanent) this.secrets.invalidate(this.ref);
    throw firstPartyGeneric(`Destination ${this.destinationId} (Google SecOps) could not get an access token for the service account (${reply.status}${typeof parsed.error === 'string' ? ` ${parsed.error}` : ''}).`, {
      code: permanent ? 'ServiceAccountTokenRejected' : `TokenHttp${reply.status}`, statusCode: reply.status, retryable: !permanent, excerpt: excerptOf(typeof parsed.error_description === 'string' ? parsed.error_description : ''),
      ...(permanent ? { fix: 'Check that the service account key in "serviceAccountRef" is current (not deleted or disabled) and belongs to the project of your Google SecOps instance.' } : {}),
    });
  }
}
