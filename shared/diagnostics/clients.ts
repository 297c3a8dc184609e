/**
 * The credential and API client of one source: the one place the API is chosen. RWS and Graph
 * share the planner, ledger, worker and retries. Used by the runtime's clientsFor and by
 * `npm run diagnose`.
 */
import { GraphMessageTraceClient } from '../api/graph-client';
import { RwsMessageTraceClient } from '../api/rws-client';
import type { MessageTraceClient } from '../api/client';
import { SourceCredential } from '../auth/credentials';
import type { SecretSource } from '../auth/secrets';
import type { SourceConfig } from '../components';
import type { Clock } from '../time/clock';

export function createSourceClients(source: SourceConfig, secrets: SecretSource, clock: Clock): { credential: SourceCredential; api: MessageTraceClient } {
  const credential = new SourceCredential(source, secrets, { clock });
  const api = source.api === 'rws' && source.rws
    ? new RwsMessageTraceClient({ ...source.rws, credential, timeoutMs: source.requestTimeoutMs })
    : new GraphMessageTraceClient({ graphBaseUrl: source.endpoints.graphBaseUrl, apiVersion: source.graphApiVersion, scope: source.endpoints.graphScope, credential, timeoutMs: source.requestTimeoutMs });
  return { credential, api };
}
