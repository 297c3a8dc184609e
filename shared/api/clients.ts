/**
 * The credential and API client of one source: the one place the API is chosen (through
 * ./registry.ts). RWS and Graph share the planner, ledger, worker and retries. Used by the
 * runtime's clientsFor and by `mtc diagnose`.
 */
import { SourceCredential } from '../auth/credentials';
import type { SecretSource } from '../auth/secrets';
import type { SourceConfig } from '../components';
import type { Clock } from '../time/clock';
import type { MessageTraceClient } from './client';
import { sourceApi } from './registry';

export function createSourceClients(source: SourceConfig, secrets: SecretSource, clock: Clock): { credential: SourceCredential; api: MessageTraceClient } {
  const credential = new SourceCredential(source, secrets, { clock });
  return { credential, api: sourceApi(source.api).create(source, credential) };
}
