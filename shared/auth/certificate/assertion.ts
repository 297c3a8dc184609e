/**
 * Certificate credentials: a PEM text with the certificate (and its chain) and the private key, and
 * the client assertion Entra ID expects (reference C.3): `aud` = the token endpoint, `iss` = `sub` =
 * the client id, a fresh `jti`, `nbf`/`iat` = now, `exp` = now + 10 minutes, and in the header the
 * certificate thumbprint in one of two forms:
 * - `sha256`: `alg: PS256` with `x5t#S256` (base64url SHA-256 of the DER certificate), the current form;
 * - `sha1`: `alg: RS256` with `x5t` (base64url SHA-1), the older form many tenants still use.
 *
 * The assertion is handed to @azure/identity's ClientAssertionCredential, which does the token
 * request and caching. Nothing here ever puts the key or the PEM text in an error message.
 */
import { constants, createHash, createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { thirdPartyConfig } from '../../errors';

export interface LoadedCertificate {
  /** DER of the leaf certificate first, then the rest of the chain. */
  chain: Buffer[];
  privateKey: KeyObject;
  /** Upper-case hex thumbprints of the leaf, as the Entra portal shows them. */
  sha1Hex: string;
  sha256Hex: string;
  notAfter: Date;
  subject: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/**
 * Parses a PEM text holding one or more CERTIFICATE blocks (leaf first) and one private key.
 * `where` names the origin for the error message (e.g. `kv:…/secrets/contoso-cert` or a file path).
 */
export function loadPemCertificate(pem: string, where: string): LoadedCertificate {
  const fix = 'Store the certificate as PEM with its private key (Key Vault: create the certificate with content type "application/x-pem-file", or a secret holding the PEM text; a file: a .pem with both blocks).';
  const text = pem.replace(/\r\n/g, '\n');
  if (!text.includes('-----BEGIN')) {
    const looksPfx = /^[A-Za-z0-9+/=\s]+$/.test(text.trim()) && text.trim().startsWith('MII');
    throw thirdPartyConfig(
      looksPfx
        ? `The certificate at ${where} is PKCS#12 (PFX), which this collector does not read.`
        : `The certificate at ${where} is not PEM text.`,
      { code: 'CertificateFormat', fix },
    );
  }
  const certs = text.match(CERT_BLOCK) ?? [];
  const keyPem = KEY_BLOCK.exec(text)?.[0];
  if (certs.length === 0 || !keyPem) {
    throw thirdPartyConfig(`The PEM at ${where} lacks ${certs.length === 0 ? 'a CERTIFICATE block' : 'a PRIVATE KEY block'}.`, { code: 'CertificateFormat', fix });
  }
  if (/ENCRYPTED/.test(keyPem)) {
    throw thirdPartyConfig(`The private key at ${where} is encrypted with a password.`, { code: 'CertificateFormat', fix: 'Store the private key unencrypted (Key Vault protects it at rest), e.g. `openssl pkey -in key.pem -out plain.pem`.' });
  }
  let privateKey: KeyObject;
  let x509: X509Certificate[];
  try {
    privateKey = createPrivateKey(keyPem);
    x509 = certs.map((c) => new X509Certificate(c));
  } catch {
    throw thirdPartyConfig(`The PEM at ${where} could not be parsed.`, { code: 'CertificateFormat', fix });
  }
  const leaf = x509[0]!;
  if (!leaf.checkPrivateKey(privateKey)) {
    throw thirdPartyConfig(`The private key at ${where} does not belong to its first certificate.`, { code: 'CertificateFormat', fix: 'Put the certificate that matches the private key first in the PEM.' });
  }
  if (privateKey.asymmetricKeyType !== 'rsa' && privateKey.asymmetricKeyType !== 'rsa-pss') {
    throw thirdPartyConfig(`The key at ${where} is ${privateKey.asymmetricKeyType ?? 'unknown'}, but Entra ID client assertions need an RSA key.`, { code: 'CertificateFormat', fix: 'Create an RSA certificate (2048 bits or more).' });
  }
  const chain = x509.map((c) => c.raw);
  return {
    chain,
    privateKey,
    sha1Hex: createHash('sha1').update(leaf.raw).digest('hex').toUpperCase(),
    sha256Hex: createHash('sha256').update(leaf.raw).digest('hex').toUpperCase(),
    notAfter: new Date(leaf.validTo),
    subject: leaf.subject,
  };
}

export interface AssertionOptions {
  clientId: string;
  /** The token endpoint, e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token */
  audience: string;
  thumbprint: 'sha256' | 'sha1';
  sendCertificateChain: boolean;
  nowMs: number;
}

/** Signs a client assertion JWT (reference C.3). */
export function signClientAssertion(cert: LoadedCertificate, o: AssertionOptions): string {
  const leaf = cert.chain[0]!;
  const header: Record<string, unknown> = o.thumbprint === 'sha256'
    ? { alg: 'PS256', typ: 'JWT', 'x5t#S256': createHash('sha256').update(leaf).digest('base64url') }
    : { alg: 'RS256', typ: 'JWT', x5t: createHash('sha1').update(leaf).digest('base64url') };
  if (o.sendCertificateChain) header.x5c = cert.chain.map((d) => d.toString('base64'));
  const now = Math.floor(o.nowMs / 1000);
  const payload = { aud: o.audience, iss: o.clientId, sub: o.clientId, jti: randomUUID(), nbf: now, iat: now, exp: now + 600 };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const signature = o.thumbprint === 'sha256'
    ? sign('sha256', Buffer.from(input), { key: cert.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    : sign('sha256', Buffer.from(input), cert.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}
