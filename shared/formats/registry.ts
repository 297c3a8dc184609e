/**
 * The format registry: one line per format folder. A destination's `format` option accepts exactly
 * these names (the first is the default of destinations that name none in their spec).
 */
import { ecsFormat } from './ecs/format';
import { messageTraceFormat } from './o365-messagetrace/format';
import { ocsfFormat } from './ocsf/format';
import { rawFormat } from './raw/format';
import { sentinelFormat } from './sentinel/format';
import type { FormatSpec } from './spec';

export const FORMATS = [
  rawFormat,
  ecsFormat,
  ocsfFormat,
  sentinelFormat,
  messageTraceFormat,
] as const satisfies readonly FormatSpec[];

export type FormatName = (typeof FORMATS)[number]['name'];
export const FORMAT_NAMES = FORMATS.map((f) => f.name) as [FormatName, ...FormatName[]];

export function formatSpec(name: FormatName): FormatSpec<FormatName> {
  const spec = FORMATS.find((f) => f.name === name);
  if (!spec) throw new TypeError(`unknown format "${String(name)}"`);
  return spec;
}
