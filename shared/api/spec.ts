/** What one source API folder under shared/api/ registers (one line in shared/api/registry.ts). */
import type { TokenCredential } from '@azure/core-auth';
import type { SourceConfig } from '../components';
import type { MessageTraceClient } from './client';

export interface SourceApiSpec<N extends string = string> {
  /** The value of a source's `api` option. */
  name: N;
  /** The source's client of this API, with the source's credential. */
  create(source: SourceConfig, credential: TokenCredential): MessageTraceClient;
}
