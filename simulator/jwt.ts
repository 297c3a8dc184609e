/**
 * Just enough JWS (compact JWT) for the simulator's Entra token service: sign RS256 access tokens
 * with the simulator's key, and verify RS256 / PS256 client assertions against a certificate.
 * Built on node:crypto only, so the verifier shares no code with the clients under test (MSAL uses
 * jsonwebtoken).
 */
import { createHash, sign as cryptoSign, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';

export type JwtHeader = { alg?: unknown; typ?: unknown; kid?: unknown; x5t?: unknown; 'x5t#S256'?: unknown; x5c?: unknown; [k: string]: unknown };
export type JwtPayload = Record<string, unknown>;

export interface DecodedJwt {
  header: JwtHeader;
  payload: JwtPayload;
  /** `base64url(header).base64url(payload)`, the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

export function base64UrlEncode(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeJsonSegment(segment: string, what: string): Record<string, unknown> {
  if (!B64URL.test(segment)) throw new JwtFormatError(`JWT ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new JwtFormatError(`JWT ${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new JwtFormatError(`JWT ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** A token that is not a well-formed compact JWS. The message never contains the token. */
export class JwtFormatError extends Error {
  override readonly name = 'JwtFormatError';
}

/** Splits and parses a compact JWT without checking its signature. Throws JwtFormatError. */
export function decodeJwt(token: string): DecodedJwt {
  if (typeof token !== 'string' || token.length === 0) throw new JwtFormatError('JWT is empty');
  if (token.length > 64 * 1024) throw new JwtFormatError('JWT is longer than 64 KiB');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtFormatError(`JWT must have 3 dot-separated parts, found ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(s)) throw new JwtFormatError('JWT signature is not base64url');
  return {
    header: decodeJsonSegment(h, 'header'),
    payload: decodeJsonSegment(p, 'payload'),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

/** Signs `payload` as an RS256 JWT with `typ: JWT` and the given extra header fields. */
export function signJwtRs256(payload: JwtPayload, privateKey: KeyObject, header: Record<string, unknown> = {}): string {
  const h = base64UrlEncode(JSON.stringify({ typ: 'JWT', alg: 'RS256', ...header }));
  const p = base64UrlEncode(JSON.stringify(payload));
  const signature = cryptoSign('sha256', Buffer.from(`${h}.${p}`), privateKey);
  return `${h}.${p}.${base64UrlEncode(signature)}`;
}

export type SupportedJwsAlg = 'RS256' | 'PS256';

/** Verifies the signature of a decoded JWT with an RSA public key (RS256 or PS256). */
export function verifyJwtSignature(jwt: DecodedJwt, alg: SupportedJwsAlg, publicKey: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  try {
    if (alg === 'RS256') return cryptoVerify('sha256', data, publicKey, jwt.signature);
    // RFC 7518 3.5: PS256 is RSASSA-PSS with SHA-256, MGF1 SHA-256 and a 32-byte salt. AUTO also
    // accepts other salt lengths, as Entra appears to.
    return cryptoVerify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, jwt.signature);
  } catch {
    return false;
  }
}

/** base64url SHA-1 (x5t) and SHA-256 (x5t#S256) thumbprints of a DER certificate. */
export function certificateThumbprints(der: Buffer): { x5t: string; x5tS256: string } {
  return {
    x5t: createHash('sha1').update(der).digest('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
  };
}
