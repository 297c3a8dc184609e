/**
 * `npm run diagnose -- <source> [--json] [--auth-url] [--auth-code <code>]`
 *
 * Reads the configuration the way the function app does (MTC_CONFIG / MTC_CONFIG_PATH, app
 * settings in the environment), runs the preflight diagnosis for one source and prints the state
 * and the fix. For the authorizationCode method, `--auth-url` prints the sign-in URL and
 * `--auth-code <code>` redeems the one-time code and stores the refresh token in Key Vault.
 * Exit code: 0 when the source is ready (Collecting), 1 otherwise, 2 for a usage or config error.
 */
import { loadConfigFromEnvironment } from '../config/load';
import { DefaultSecretSource } from '../auth/secrets';
import { apiScopeOf } from '../auth/credentials';
import { authorizeUrl } from '../auth/refresh-token';
import { asCollectorError } from '../errors';
import { systemClock } from '../time/clock';
import { createSourceClients } from './clients';
import { diagnoseSource, type Diagnosis } from './diagnose';

const USAGE = 'usage: npm run diagnose -- <source id> [--json] [--auth-url] [--auth-code <code>]';

export function formatDiagnosis(d: Diagnosis): string {
  const lines = [`source ${d.sourceId} (${d.api}, ${d.authMethod}): ${d.state}${d.state === 'Error' ? ` after ${d.reached}` : ''} [${d.code}]`, `  ${d.message}`];
  if (d.token) lines.push(`  token: tenant ${d.token.tenantId ?? '?'}, app ${d.token.appId ?? '?'}, roles [${d.token.roles.join(', ')}], scopes [${d.token.scopes.join(', ')}]`);
  for (const s of d.steps) lines.push(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}: ${s.detail}`);
  if (d.fix) lines.push(`  fix: ${d.fix}`);
  return lines.join('\n');
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  const args = [...argv];
  const json = args.includes('--json');
  const wantUrl = args.includes('--auth-url');
  const codeAt = args.indexOf('--auth-code');
  const code = codeAt >= 0 ? args[codeAt + 1] : undefined;
  if (codeAt >= 0 && (!code || code.startsWith('--'))) {
    out(`--auth-code needs the code copied from the redirect URL. ${USAGE}`);
    return 2;
  }
  const positional = args.filter((a, i) => !a.startsWith('--') && i !== codeAt + 1);
  let config;
  try {
    config = loadConfigFromEnvironment(env).config;
  } catch (err) {
    out((err as Error).message);
    return 2;
  }
  const id = positional[0];
  const source = config.sources.find((s) => s.id === id);
  if (!source) {
    out(`${id ? `no source "${id}" is configured` : 'name the source to diagnose'}; the sources are ${config.sources.map((s) => `"${s.id}"`).join(', ') || '(none)'}. ${USAGE}`);
    return 2;
  }
  const secrets = new DefaultSecretSource(env);
  const { credential, api } = createSourceClients(source, secrets, systemClock);
  if (wantUrl || code) {
    if (source.auth.method !== 'authorizationCode') {
      out(`source "${source.id}" uses the ${source.auth.method} method; --auth-url and --auth-code are for the authorizationCode method`);
      return 2;
    }
    if (wantUrl) {
      out(`Open as an administrator, sign in, and copy "code" from the address the browser is sent to (it expires in about 10 minutes):\n${authorizeUrl(source.endpoints.authorityHost, source.tenantId, source.auth.clientId, source.auth.redirectUri, apiScopeOf(source))}`);
      if (!code) return 0;
    }
    try {
      await credential.redeemAuthorizationCode(code!);
      out('The authorization code was redeemed and the refresh token stored in Key Vault.');
    } catch (err) {
      const e = asCollectorError(err);
      out(`${e.message}${e.fix ? `\nfix: ${e.fix}` : ''}`);
      return 1;
    }
  }
  const d = await diagnoseSource(source, { credential, api, clock: systemClock });
  out(json ? JSON.stringify(d, null, 2) : formatDiagnosis(d));
  return d.state === 'Collecting' ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2), process.env, (l) => console.log(l)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 2;
  });
}
