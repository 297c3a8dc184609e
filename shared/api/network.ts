/**
 * Network and TLS failures at the authority (Entra ID) or the API, named for what they are: an
 * untrusted certificate, a refused connection, a name that does not resolve, a timeout. Each is a
 * transient ThirdPartyGeneric error whose message names the host and the cause, and whose fix
 * names what to change (NODE_EXTRA_CA_CERTS, proxy settings, the endpoint URL). A wrong tenant is
 * only reported when Entra ID says so (AADSTS90002 and kin).
 *
 * The identity library reports every failure to fetch the tenant's OpenID metadata as
 * `endpoints_resolution_error` and drops the cause, so `explainAuthorityFailure` asks the
 * metadata URL itself and reports what actually happened.
 */
import { CollectorError, excerptOf, thirdPartyConfig, thirdPartyGeneric } from '../errors';
import { networkCauseOf, send, type NetworkCause } from '../outbound-http';

const PROXY_NOTE = 'If a proxy inspects TLS, add its root certificate to NODE_EXTRA_CA_CERTS.';

/** The message and fix for a network failure reaching `url` (`what`: "Entra ID (authority)", "Graph"). */
export function networkFailure(what: string, url: string, code: string, cause: unknown): CollectorError {
  const host = safeHost(url);
  const kind = networkCauseOf(code) ?? 'unreachable';
  const texts: Record<NetworkCause, { message: string; fix: string }> = {
    'tls-untrusted': {
      message: `TLS: the certificate of ${what} at ${host} is not trusted (${code}); nothing was sent.`,
      fix: `Trust the certificate authority that signed it: set NODE_EXTRA_CA_CERTS to a PEM file holding its root certificate (for a TLS-inspecting proxy, the proxy's root), then restart. ${url.startsWith('https://login.') || url.includes('graph.microsoft') ? '' : 'Check that the endpoint URL in the source is right. '}`.trim(),
    },
    'tls-invalid': {
      message: `TLS: the certificate of ${what} at ${host} is not valid for it (${code}).`,
      fix: `Check the endpoint URL and the system clock; ${PROXY_NOTE}`,
    },
    refused: {
      message: `${what} at ${host} refused the connection (${code}).`,
      fix: `Check the endpoint URL in the source (endpoints.authorityHost / endpoints.graphBaseUrl) and that outbound HTTPS to ${host} is allowed; behind a proxy set HTTPS_PROXY (and NO_PROXY for local hosts).`,
    },
    dns: {
      message: `The name of ${what}, ${host}, does not resolve (${code}).`,
      fix: `Check the endpoint URL for typos and the DNS of this machine; behind a proxy set HTTPS_PROXY.`,
    },
    timeout: {
      message: `${what} at ${host} did not answer in time (${code}).`,
      fix: `Check that outbound HTTPS to ${host} is allowed (firewall, network security group); behind a proxy set HTTPS_PROXY.`,
    },
    reset: {
      message: `The connection to ${what} at ${host} was closed before a response (${code}).`,
      fix: `Usually passes; if it persists, check proxies and firewalls between here and ${host}. ${PROXY_NOTE}`,
    },
    unreachable: {
      message: `${what} at ${host} cannot be reached (${code}).`,
      fix: `Check the network route to ${host} and the endpoint URL; behind a proxy set HTTPS_PROXY.`,
    },
  };
  const t = texts[kind];
  return thirdPartyGeneric(t.message, { code: `Network.${kind}`, fix: t.fix, excerpt: `${url} ${code}`, cause });
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Whether an identity-library error is one that hides a network cause (metadata or token endpoint unreachable). */
export function looksLikeHiddenNetworkFailure(err: unknown): boolean {
  const text = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  if (/AADSTS\d+/.test(text)) return false;
  return /endpoints_resolution_error|network_error|Network request failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|certificate|self[- ]signed|unable to verify|openid_config_error|authority_mismatch|untrusted_authority/i.test(text);
}

/**
 * Asks the tenant's OpenID metadata URL at the authority what the identity library could not say:
 * a network or TLS failure (→ a transient error naming host, cause and fix), Entra ID's own error
 * (e.g. AADSTS90002: the tenant does not exist → a configuration error), or nothing wrong
 * (undefined: the original error stands).
 */
export async function explainAuthorityFailure(authorityHost: string, tenantId: string, timeoutMs = 15_000): Promise<CollectorError | undefined> {
  const url = `${authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`;
  let res;
  try {
    res = await send(url, { timeoutMs }, (code, cause) => networkFailure('Entra ID (the authority)', authorityHost, code, cause));
  } catch (err) {
    return err as CollectorError;
  }
  if (res.status === 200) return undefined;
  const aadsts = /AADSTS(\d+)/.exec(res.body)?.[1];
  if (aadsts === '90002' || aadsts === '900023' || aadsts === '90072') {
    return thirdPartyConfig(`Entra ID at ${safeHost(authorityHost)} does not know the tenant "${tenantId}" (AADSTS${aadsts}).`, {
      code: `AADSTS${aadsts}`, fix: 'Check the source\'s tenantId (the Directory (tenant) ID on the tenant\'s Entra overview page) and its cloud.', excerpt: excerptOf(res.body, 160),
    });
  }
  return thirdPartyGeneric(`Entra ID at ${safeHost(authorityHost)} answered ${res.status} for the tenant's OpenID metadata${aadsts ? ` (AADSTS${aadsts})` : ''}.`, {
    code: aadsts ? `AADSTS${aadsts}` : 'AuthorityMetadataFailed', statusCode: res.status, excerpt: excerptOf(res.body, 160),
    fix: 'Check endpoints.authorityHost (it must be the Entra ID login host of the tenant\'s cloud, e.g. https://login.microsoftonline.com).',
  });
}
