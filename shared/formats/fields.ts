/** Helpers shared by the formats: the row's canonical status, its time, and the event's custom fields. */
import { receivedMs, type TraceEvent } from '../model/row';

const ENVELOPE_KEYS = new Set(['eventId', 'tenantId', 'sourceId', 'collectedAt', 'api', 'row', 'raw', 'detail', 'traceEventId', 'rowKey', 'detailIndex', 'detailCount']);

/** The configured custom fields of a source (everything at the top level that is not the envelope). */
export function customFieldsOf(event: TraceEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) if (!ENVELOPE_KEYS.has(k)) out[k] = v;
  return out;
}

/** Graph v1.0 writes statuses in camelCase, beta in PascalCase: this is the camelCase form ('' when absent). */
export function canonicalStatus(status: unknown): string {
  if (typeof status !== 'string' || !status) return '';
  return status[0]!.toLowerCase() + status.slice(1);
}

/** The row's receivedDateTime as ISO 8601 with milliseconds (UTC), or undefined when unparseable. */
export function receivedIso(event: TraceEvent): string | undefined {
  const ms = receivedMs(event.row.receivedDateTime);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** A non-empty string or undefined (Graph sends "" for a missing toIP). */
export function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** Removes undefined members and empty objects, recursively (so absent values never reach the wire). */
export function compact<T>(value: T): T {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map((v) => compact(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    const c = compact(v);
    if (c !== null && typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 0) continue;
    if (Array.isArray(c) && c.length === 0) continue;
    out[k] = c;
  }
  return out as T;
}

/** A detail event's custom fields: the source's fields, without `collectedBy` (the kind is a field of its own in every format). */
export function detailFieldsOf(event: TraceEvent): Record<string, unknown> {
  const { collectedBy: _kind, ...fields } = customFieldsOf(event);
  void _kind;
  return fields;
}

/** A detail event's dateTime as ISO 8601 with milliseconds (UTC), else the row's received time, else undefined. */
export function detailIso(event: TraceEvent): string | undefined {
  const ms = receivedMs(event.detail?.dateTime);
  return Number.isNaN(ms) ? receivedIso(event) : new Date(ms).toISOString();
}

/** An event name in lower kebab case ("Transport rule" -> "transport-rule"), for action fields. */
export function kebab(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s || undefined;
}
