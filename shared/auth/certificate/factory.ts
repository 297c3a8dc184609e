/**
 * `certificate`: ClientAssertionCredential with an assertion signed here (./assertion.ts), so both
 * thumbprint forms (x5t#S256 with PS256, x5t with RS256) are possible.
 */
import { ClientAssertionCredential } from '@azure/identity';
import { thirdPartyConfig } from '../../errors';
import { describeSecretRef } from '../secrets';
import type { AuthMethodSpec, CredentialContext } from '../spec';
import { loadPemCertificate, signClientAssertion, type LoadedCertificate } from './assertion';
import { certificateConfig, type CertificateAuth } from './config';

async function loadCertificate(auth: CertificateAuth, ctx: CredentialContext): Promise<LoadedCertificate> {
  if (auth.certificate.kind === 'secret') {
    const ref = auth.certificate.ref;
    return loadPemCertificate(await ctx.secrets.get(ref), describeSecretRef(ref));
  }
  const path = auth.certificate.path;
  let pem: string;
  try {
    pem = await ctx.readFile(path);
  } catch (err) {
    throw thirdPartyConfig(`The certificate file ${path} could not be read (${(err as { code?: string }).code ?? 'error'}).`, {
      code: 'CertificateNotFound', fix: 'Check auth.certificatePath: the file must exist on the function app and be readable (or use certificateRef with Key Vault).',
    });
  }
  return loadPemCertificate(pem, path);
}

export const certificateSpec: AuthMethodSpec<CertificateAuth> = {
  ...certificateConfig,
  async create(auth, ctx) {
    const cert = await loadCertificate(auth, ctx);
    const audience = `${ctx.authorityHost.replace(/\/+$/, '')}/${ctx.tenantId}/oauth2/v2.0/token`;
    return new ClientAssertionCredential(ctx.tenantId, auth.clientId, async () =>
      signClientAssertion(cert, { clientId: auth.clientId, audience, thumbprint: auth.thumbprint, sendCertificateChain: auth.sendCertificateChain, nowMs: ctx.clock.now() }), ctx.identityOptions);
  },
  renew(auth, ctx) {
    if (auth.certificate.kind === 'secret') ctx.secrets.invalidate(auth.certificate.ref);
  },
};
