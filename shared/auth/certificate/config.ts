/** `certificate`: an app registration's certificate, from a secret or a PEM file. Options: ./README.md, docs/auth.md. */
import { z } from 'zod';
import { booleanField, secretRefField } from '../../config-common/fields';
import type { AuthMethodKind } from '../../config-common/kinds';
import type { SecretRef } from '../../config-common/types';
import { clientIdField, missingClientId } from '../fields';

/** Where a certificate (PEM with the private key) comes from. */
export type CertificateSource =
  | { kind: 'secret'; ref: SecretRef }
  | { kind: 'file'; path: string };

export interface CertificateAuth {
  method: 'certificate';
  clientId: string;
  certificate: CertificateSource;
  /** Thumbprint form in the client assertion header: `sha256` (PS256 + x5t#S256, the default) or `sha1` (RS256 + x5t). */
  thumbprint: 'sha256' | 'sha1';
  /** Send the certificate chain (x5c) for subject name / issuer authentication. */
  sendCertificateChain: boolean;
}

const PEM_PATH = 'must be the path of a PEM file with the certificate and its private key, e.g. "/home/site/certs/contoso.pem"';

export const certificateConfig: AuthMethodKind<CertificateAuth> = {
  method: 'certificate',
  fields: (keyVaultUri) => ({
    clientId: clientIdField(),
    certificateRef: secretRefField(keyVaultUri, 'kv:contoso-collector-cert'),
    certificatePath: z.string({ error: PEM_PATH }).trim().min(1, { error: PEM_PATH }),
    thumbprint: z.enum(['sha256', 'sha1'], { error: 'must be "sha256" (x5t#S256, the default) or "sha1" (x5t)' }),
    sendCertificateChain: booleanField(),
  }),
  required: ['clientId'],
  aliases: { certRef: 'certificateRef', certPath: 'certificatePath', pemPath: 'certificatePath' },
  missing: { clientId: missingClientId('certificate') },
  refine(a, ctx) {
    if ((a.certificateRef === undefined) === (a.certificatePath === undefined)) {
      ctx.addIssue({
        code: 'custom', path: ['certificateRef'], input: a.certificateRef,
        message: 'set exactly one of "certificateRef" (a PEM secret or a Key Vault certificate, e.g. "kv:contoso-collector-cert") and "certificatePath" (a PEM file)',
      });
    }
  },
  build: (a) => ({
    method: 'certificate', clientId: (a.clientId as string | undefined) ?? '',
    certificate: a.certificateRef ? { kind: 'secret', ref: a.certificateRef as SecretRef } : { kind: 'file', path: (a.certificatePath as string | undefined) ?? '' },
    thumbprint: (a.thumbprint as CertificateAuth['thumbprint'] | undefined) ?? 'sha256',
    sendCertificateChain: (a.sendCertificateChain as boolean | undefined) ?? false,
  }),
  secretRefs: (auth) => (auth.certificate.kind === 'secret' ? [['certificateRef', auth.certificate.ref]] : []),
};
