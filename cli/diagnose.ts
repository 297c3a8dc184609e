/**
 * `mtc diagnose <source> [--config <file>] [--json] [--auth-url] [--auth-code <code>] [--verbose]`:
 * the preflight diagnosis of one source, with the state and the fix. For the authorizationCode
 * method, --auth-url prints the sign-in URL and --auth-code redeems the one-time code and stores
 * the refresh token in Key Vault. Exit code: 0 when the source is ready (Collecting), 1 otherwise.
 */
import { DefaultSecretSource } from '../shared/auth/secrets';
import { apiScopeOf } from '../shared/auth/credentials';
import { authorizeUrl } from '../shared/auth/refresh-token';
import { asCollectorError } from '../shared/errors';
import { systemClock } from '../shared/time/clock';
import { createSourceClients } from '../shared/diagnostics/clients';
import { diagnoseSource, type Diagnosis } from '../shared/diagnostics/diagnose';
import { unknownSourceMessage } from '../shared/http-api';
import { loadCommandConfig } from './config';
import { UsageError, type Io } from './io';

export function formatDiagnosis(d: Diagnosis, opts: { verbose?: boolean } = {}): string {
  const lines = [`source ${d.sourceId} (${d.api}, ${d.authMethod}): ${d.state}${d.state === 'Error' ? ` after ${d.reached}` : ''} [${d.code}]`, `  ${d.message}`];
  if (d.token) lines.push(`  token: tenant ${d.token.tenantId ?? '?'}, app ${d.token.appId ?? '?'}, roles [${d.token.roles.join(', ')}], scopes [${d.token.scopes.join(', ')}]`);
  for (const s of d.steps) lines.push(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}: ${s.detail}`);
  if (d.fix) lines.push(`  fix: ${d.fix}`);
  if (opts.verbose && d.cause) lines.push(`  cause: ${d.cause}`);
  return lines.join('\n');
}

export interface DiagnoseArgs { source: string; config?: string; json?: boolean; authUrl?: boolean; authCode?: string; verbose?: boolean }

export async function diagnoseCommand(a: DiagnoseArgs, io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const { config } = loadCommandConfig(a.config, env);
  const source = config.sources.find((s) => s.id === a.source);
  if (!source) throw new UsageError(unknownSourceMessage(config.sources, a.source));
  const secrets = new DefaultSecretSource(env);
  const { credential, api } = createSourceClients(source, secrets, systemClock);
  if (a.authUrl || a.authCode !== undefined) {
    if (source.auth.method !== 'authorizationCode') throw new UsageError(`source "${source.id}" uses the ${source.auth.method} method; --auth-url and --auth-code are for the authorizationCode method`);
    if (a.authUrl) {
      io.out(`Open as an administrator, sign in, and copy "code" from the address the browser is sent to (it expires in about 10 minutes):\n${authorizeUrl(source.endpoints.authorityHost, source.tenantId, source.auth.clientId, source.auth.redirectUri, apiScopeOf(source))}`);
      if (a.authCode === undefined) return 0;
    }
    if (!a.authCode) throw new UsageError('--auth-code needs the code copied from the redirect URL');
    try {
      await credential.redeemAuthorizationCode(a.authCode);
      io.out('The authorization code was redeemed and the refresh token stored in Key Vault.');
    } catch (err) {
      const e = asCollectorError(err);
      io.out(`${e.message}${e.fix ? `\nfix: ${e.fix}` : ''}`);
      return 1;
    }
  }
  const d = await diagnoseSource(source, { credential, api, clock: systemClock });
  io.out(a.json ? JSON.stringify(d, null, 2) : formatDiagnosis(d, { verbose: !!a.verbose }));
  return d.state === 'Collecting' ? 0 : 1;
}
