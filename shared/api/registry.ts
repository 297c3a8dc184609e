/**
 * The source API registry: one line per API folder. A source's `api` option names one of them
 * (its options are checked in shared/config/source.ts).
 */
import { graphApi } from './graph/factory';
import { rwsApi } from './rws/factory';
import type { SourceApiSpec } from './spec';

export const SOURCE_APIS = [
  graphApi,
  rwsApi,
] as const satisfies readonly SourceApiSpec[];

export type SourceApiName = (typeof SOURCE_APIS)[number]['name'];

export function sourceApi(name: string): SourceApiSpec {
  const api = SOURCE_APIS.find((a) => a.name === name);
  if (!api) throw new TypeError(`unknown source API "${name}"`);
  return api;
}
