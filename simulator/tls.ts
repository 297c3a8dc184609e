/**
 * The simulator's TLS certificate. MSAL (and so @azure/identity) insists on an https authority,
 * so the simulator serves https with a self-signed certificate that the test or the local host
 * trusts explicitly. Certificate validity is real (wall-clock) time, because TLS peers check it
 * with the system clock, not with the simulator's Clock.
 *
 * How a client trusts it (verified in test/simulator/entra-identity.test.ts):
 * - @azure/identity credentials: pass `agent: new https.Agent({ ca: [certPem] })` in the
 *   credential options (the option is spread into its pipeline, so only that credential trusts
 *   the simulator), or globally in Node >= 22.19:
 *   `tls.setDefaultCACertificates([...tls.getCACertificates('default'), certPem])`.
 * - node:https / got: the `ca` option (`https: { certificateAuthority: certPem }` in got).
 * - fetch (undici): a dispatcher with `connect: { ca }`, or the global default CA list above.
 */
import { isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

export const DEFAULT_CERTIFICATE_HOSTS: readonly string[] = ['127.0.0.1', '::1', 'localhost'];
const MAX_DAYS = 3650;
const HOSTNAME = /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A self-signed certificate for the simulator's https server (SAN: the hosts, default 127.0.0.1, ::1 and localhost). */
export async function createSelfSignedCertificate(opts?: { hosts?: string[]; days?: number }): Promise<{ keyPem: string; certPem: string }> {
  const hosts = opts?.hosts ?? [...DEFAULT_CERTIFICATE_HOSTS];
  if (!Array.isArray(hosts) || hosts.length === 0) {
    throw new TypeError('createSelfSignedCertificate: hosts must be a non-empty array of host names or IP addresses (omit it for 127.0.0.1, ::1 and localhost)');
  }
  const altNames = hosts.map((raw, i) => {
    if (typeof raw !== 'string') throw new TypeError(`createSelfSignedCertificate: hosts[${i}] must be a string`);
    const host = raw.replace(/^\[(.*)\]$/, '$1'); // accept [::1]
    if (isIP(host)) return { type: 7 as const, ip: host };
    if (!HOSTNAME.test(host)) throw new TypeError(`createSelfSignedCertificate: hosts[${i}] '${raw}' is neither an IP address nor a DNS name`);
    return { type: 2 as const, value: host };
  });
  const days = opts?.days ?? 30;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new RangeError(`createSelfSignedCertificate: days must be an integer from 1 to ${MAX_DAYS}, got ${String(days)}`);
  }
  // Wall-clock validity, backdated a little for peers whose clocks lag.
  const notBeforeDate = new Date(Date.now() - 60 * 60 * 1000);
  const notAfterDate = new Date(notBeforeDate.getTime() + days * 24 * 60 * 60 * 1000);
  const commonName = hosts.find((h) => !isIP(h.replace(/^\[(.*)\]$/, '$1'))) ?? hosts[0]!;
  const pems = await generate([{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'message-trace-collector simulator' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  // Fail here, not in a TLS handshake, if the library ever produces something unusable.
  new X509Certificate(pems.cert);
  return { keyPem: pems.private, certPem: pems.cert };
}
