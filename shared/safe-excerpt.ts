/**
 * Excerpts of text that came from outside (a queue message nobody could decode, a field value) for
 * status and logs: one line, bounded, with control characters removed and anything that looks like
 * a secret replaced. A poison message may be anything, including a pasted connection string or
 * token, so it is never echoed raw.
 *
 * - control and format characters (including bidi overrides and line separators) become spaces;
 * - `name=value` / `"name": "value"` pairs whose name suggests a secret (secret, password, token,
 *   key, sig, authorization, ...) keep the name and lose the value;
 * - every run of 16 or more token characters (letters, digits, `+/_~.=%-`) is replaced by
 *   `[redacted N chars]`, unless it has one of the harmless shapes the collector itself writes:
 *   digits with `-.:` (numbers, dates), slice ids (`L-…`, `B-…`, `R1-…`), run ids, GUIDs, and
 *   lowercase words joined by `-`, `_` or `.`, each also after a source id and a `/`;
 * - the result is at most `max` characters (an ellipsis marks a cut).
 */

const SECRET_NAMES = 'client_?secret|secret|password|passwd|pwd|access_?token|refresh_?token|id_?token|token|api_?key|apikey|account_?key|key|sig|signature|authorization|bearer|assertion|sharedaccesssignature|credential';
const SECRET_PAIR = new RegExp(`\\b(${SECRET_NAMES})\\b(\\s*["']?\\s*[:=]\\s*["']?|\\s+)(?!\\[redacted)((?:(?:bearer|basic|sharedkey)\\s+)?[^\\s"'&,;}\\]]+)`, 'gi');
const TOKEN_RUN = /[A-Za-z0-9+/_~.=%-]{16,}/g;
const HARMLESS_RUNS = [
  /^[0-9.:-]+$/,
  /^(?:[LB]|R\d)-[0-9a-f-]+$/,
  /^\d{14}-[0-9a-f]{6}$/,
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  /^[a-z]+(?:[-_.][a-z]+)*$/,
];
/** A harmless shape, or `<source id>/<harmless shape>` as in "page job for unknown slice contoso/L-…". */
function isHarmless(run: string): boolean {
  const parts = run.split('/');
  if (parts.length > 2) return false;
  const last = parts[parts.length - 1]!;
  // A source id as the configuration allows it (lowercase), before an id of the collector's own shapes.
  if (parts.length === 2 && !/^[a-z0-9][a-z0-9-]{0,39}$/.test(parts[0]!)) return false;
  return HARMLESS_RUNS.some((re) => re.test(last));
}

/** Text looked at before cutting: enough for any excerpt, bounded whatever the input's size. */
const SCAN_CHARS = 4096;

export function safeExcerpt(text: string, max = 200): string {
  const scanned = text.length > SCAN_CHARS ? text.slice(0, SCAN_CHARS) : text;
  const oneLine = scanned
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\uFFFD]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const paired = oneLine.replace(SECRET_PAIR, (_m, name: string, sep: string) => `${name}${sep}[redacted]`);
  const redacted = paired.replace(TOKEN_RUN, (run) => (isHarmless(run) ? run : `[redacted ${run.length} chars]`));
  const cut = redacted.length > max || text.length > SCAN_CHARS;
  return cut ? `${redacted.slice(0, Math.max(0, max - 1))}…` : redacted;
}

/** Any value as text for an excerpt, never throwing (cyclic objects, BigInt, binary data). */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '(no body)';
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, SCAN_CHARS)).toString('utf8');
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return `(a ${typeof value} that cannot be shown)`;
  }
}
