/**
 * The Microsoft clouds a source can live in: Entra authority host, Graph root and Graph token scope,
 * and whether Graph message trace exists there.
 *
 * Sources: /work/shared/reference/message-trace-api.md B.1 (Graph roots; the Graph message trace API
 * is Global service only, GCC moderate uses the worldwide endpoints), C.1 (authority hosts) and A.1
 * (RWS report hosts and Exchange Online token resources; the GCC High and DoD RWS hosts are
 * UNCONFIRMED there, so `rws.reportUrl` can always be overridden). Token-exchange audiences for
 * federated credentials: Microsoft Entra workload identity federation docs
 * (api://AzureADTokenExchange, api://AzureADTokenExchangeUSGov, api://AzureADTokenExchangeChina).
 */
import { isLoopbackHost } from '../config-common/urls';
import type { CloudName, SourceEndpoints } from './types';

export interface CloudProfile {
  name: CloudName;
  /** What Microsoft calls it. */
  displayName: string;
  endpoints: SourceEndpoints;
  /** Whether the Graph `messageTraces` API is served in this cloud. */
  graphMessageTrace: boolean;
  /** The legacy RWS MessageTrace report and its token scope (Exchange Online). */
  rws: { reportUrl: string; scope: string };
  /** Audience of the managed identity token exchanged as a federated credential. */
  tokenExchangeAudience: string;
}

export type KnownCloudName = Exclude<CloudName, 'custom'>;

export const CLOUDS: Readonly<Record<KnownCloudName, CloudProfile>> = {
  global: {
    name: 'global',
    displayName: 'Global (worldwide) service',
    endpoints: { authorityHost: 'https://login.microsoftonline.com', graphBaseUrl: 'https://graph.microsoft.com', graphScope: 'https://graph.microsoft.com/.default' },
    graphMessageTrace: true,
    rws: { reportUrl: 'https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace', scope: 'https://outlook.office365.com/.default' },
    tokenExchangeAudience: 'api://AzureADTokenExchange',
  },
  gcc: {
    name: 'gcc',
    displayName: 'US Government Community Cloud (GCC moderate, on the worldwide endpoints)',
    endpoints: { authorityHost: 'https://login.microsoftonline.com', graphBaseUrl: 'https://graph.microsoft.com', graphScope: 'https://graph.microsoft.com/.default' },
    graphMessageTrace: true,
    rws: { reportUrl: 'https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace', scope: 'https://outlook.office365.com/.default' },
    tokenExchangeAudience: 'api://AzureADTokenExchange',
  },
  gcchigh: {
    name: 'gcchigh',
    displayName: 'US Government GCC High (L4)',
    endpoints: { authorityHost: 'https://login.microsoftonline.us', graphBaseUrl: 'https://graph.microsoft.us', graphScope: 'https://graph.microsoft.us/.default' },
    graphMessageTrace: false,
    rws: { reportUrl: 'https://reports.office365.us/ecp/reportingwebservice/reporting.svc/MessageTrace', scope: 'https://outlook.office365.us/.default' },
    tokenExchangeAudience: 'api://AzureADTokenExchangeUSGov',
  },
  dod: {
    name: 'dod',
    displayName: 'US Government DoD (L5)',
    endpoints: { authorityHost: 'https://login.microsoftonline.us', graphBaseUrl: 'https://dod-graph.microsoft.us', graphScope: 'https://dod-graph.microsoft.us/.default' },
    graphMessageTrace: false,
    rws: { reportUrl: 'https://outlook-dod.office365.us/ecp/reportingwebservice/reporting.svc/MessageTrace', scope: 'https://outlook-dod.office365.us/.default' },
    tokenExchangeAudience: 'api://AzureADTokenExchangeUSGov',
  },
  china: {
    name: 'china',
    displayName: 'Microsoft 365 operated by 21Vianet (China)',
    endpoints: {
      authorityHost: 'https://login.partner.microsoftonline.cn',
      graphBaseUrl: 'https://microsoftgraph.chinacloudapi.cn',
      graphScope: 'https://microsoftgraph.chinacloudapi.cn/.default',
    },
    graphMessageTrace: false,
    rws: { reportUrl: 'https://partner.outlook.cn/ecp/reportingwebservice/reporting.svc/MessageTrace', scope: 'https://partner.outlook.cn/.default' },
    tokenExchangeAudience: 'api://AzureADTokenExchangeChina',
  },
};

/** The error for `api: "rws"` in the global service without the explicit opt-in. */
export function rwsInGlobalCloudMessage(): string {
  return (
    'the legacy RWS API is being retired in the global service (Microsoft began deprecating it on 2026-04-06 and new tenants have no access); ' +
    'use "graph" (the default). To keep RWS for a tenant that still has access, also set "rws": {"allowInGlobalCloud": true}'
  );
}

/** Every value `cloud` accepts, in documentation order. `custom` requires all three endpoints. */
export const CLOUD_NAMES: readonly CloudName[] = ['global', 'gcc', 'gcchigh', 'dod', 'china', 'custom'];

export function isCloudName(value: unknown): value is CloudName {
  return typeof value === 'string' && (CLOUD_NAMES as readonly string[]).includes(value);
}

/** The error for `api: "graph"` in a cloud without Graph message trace. */
export function graphUnavailableMessage(cloud: KnownCloudName): string {
  return (
    `Graph message trace is not available in ${CLOUDS[cloud].displayName}: Microsoft serves it only in the global service ` +
    `(worldwide tenants, including GCC). For GCC High, DoD and 21Vianet tenants the route is the legacy RWS API ` +
    `(api: "rws"); set "api": "rws" for this source.`
  );
}

/**
 * Checks an endpoint override and normalises it: https (http only for a loopback host), no user
 * name or password, no query or fragment, no trailing slash. Returns the normalised URL or a
 * message saying what to fix (the value itself is never repeated).
 */
export function normaliseEndpointUrl(value: string): { url: string } | { problem: string } {
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    return { problem: 'is not an absolute URL; write it like "https://login.microsoftonline.com"' };
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopbackHost(u.hostname))) {
    return {
      problem:
        u.protocol === 'http:'
          ? 'must use https; plain http is accepted only for a loopback host (http://127.0.0.1:<port> or http://localhost:<port>, e.g. the bundled simulator)'
          : `must be an https URL (got the scheme "${u.protocol.replace(/:$/, '')}")`,
    };
  }
  if (u.username || u.password) return { problem: 'must not contain a user name or password' };
  if (u.search || u.hash) return { problem: 'must not contain a query string or fragment' };
  const path = u.pathname.replace(/\/+$/, '');
  return { url: `${u.protocol}//${u.host}${path}` };
}
