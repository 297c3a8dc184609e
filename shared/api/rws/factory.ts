/** `rws`: the legacy Reporting Web Service MessageTrace report, with the source's `rws` options. */
import type { SourceApiSpec } from '../spec';
import { RwsMessageTraceClient } from './client';

export const rwsApi: SourceApiSpec<'rws'> = {
  name: 'rws',
  create(source, credential) {
    if (!source.rws) throw new TypeError(`source "${source.id}" uses the rws API without its rws options`);
    return new RwsMessageTraceClient({ ...source.rws, credential, timeoutMs: source.requestTimeoutMs });
  },
};
