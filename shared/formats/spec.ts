/** What one format folder under shared/formats/ registers (one line in shared/formats/registry.ts). */
import type { TraceEvent } from '../model/row';

/** A formatted record: what a destination puts on the wire (inside its own envelope). */
export type FormattedRecord = Record<string, unknown>;

export interface FormatSpec<N extends string = string> {
  /** The value of a destination's `format` option. */
  name: N;
  /** Maps one event (privacy rules already applied); `acceptedDomains` are those of the event's tenant, lowercased. */
  map(event: TraceEvent, acceptedDomains: readonly string[]): FormattedRecord;
}
