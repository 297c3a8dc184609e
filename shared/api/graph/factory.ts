/** `graph`: Microsoft Graph `messageTraces` (the default API). */
import type { SourceApiSpec } from '../spec';
import { GraphMessageTraceClient } from './client';

export const graphApi: SourceApiSpec<'graph'> = {
  name: 'graph',
  create: (source, credential) =>
    new GraphMessageTraceClient({ graphBaseUrl: source.endpoints.graphBaseUrl, apiVersion: source.graphApiVersion, scope: source.endpoints.graphScope, credential, timeoutMs: source.requestTimeoutMs }),
};
