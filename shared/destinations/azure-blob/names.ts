/**
 * Deterministic blob names: one blob per slice page, so a repeated write replaces the same blob.
 *   <prefix><sourceId>/<YYYY>/<MM>/<DD>/<sliceId>/p<page, 6 digits>.ndjson.gz   the events
 *   <prefix><sourceId>/<YYYY>/<MM>/<DD>/<sliceId>/p<page, 6 digits>.page.json.gz the API rows (optional)
 * The date is the slice's start (UTC). Names sort in time order within a source.
 */
export const EVENTS_SUFFIX = '.ndjson.gz';
export const PAGE_SUFFIX = '.page.json.gz';

export function sliceStartMs(sliceId: string): number | undefined {
  const m = /-(\d{15})-\d{15}$/.exec(sliceId);
  return m ? Number(m[1]) : undefined;
}

export function pageBlobBase(prefix: string, sourceId: string, sliceId: string, page: number): string {
  const start = sliceStartMs(sliceId);
  const day = start === undefined ? 'unknown' : new Date(start).toISOString().slice(0, 10).replace(/-/g, '/');
  return `${prefix}${sourceId}/${day}/${sliceId}/p${String(page).padStart(6, '0')}`;
}

/** Parses an events blob name back into its parts (undefined for other blobs). */
export function parseEventsBlobName(prefix: string, name: string): { sourceId: string; sliceId: string; page: number } | undefined {
  if (!name.startsWith(prefix) || !name.endsWith(EVENTS_SUFFIX)) return undefined;
  const m = /^([^/]+)\/(?:\d{4}\/\d{2}\/\d{2}|unknown)\/([^/]+)\/p(\d{6})\.ndjson\.gz$/.exec(name.slice(prefix.length));
  return m ? { sourceId: m[1]!, sliceId: m[2]!, page: Number(m[3]) } : undefined;
}
