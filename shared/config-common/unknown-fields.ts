/**
 * Unknown fields are errors, with a "did you mean" suggestion. A field that looks like an inline
 * secret (clientSecret, password, apiKey, token…) gets the "secrets are never inline" message instead.
 */
import { closestName, formatPath, type IssueCollector, type Path } from './issues';
import { looksLikeSecretFieldName, SECRET_REF_SYNTAX } from './secrets';

export interface UnknownFieldOptions {
  /** Other names users write for a field (e.g. `tenant` → `tenantId`). */
  aliases?: Readonly<Record<string, string>>;
  /** Fields of nested objects, to say "belongs under auth" when one is written a level too high. */
  nested?: Readonly<Record<string, readonly string[]>>;
  /** What to suggest for an inline secret field, e.g. `clientSecretRef`. */
  secretRefField?: string;
}

export function checkUnknownFields(
  obj: Record<string, unknown>,
  known: readonly string[],
  path: Path,
  out: IssueCollector,
  opts: UnknownFieldOptions = {},
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const keyPath = [...path, key];
    const shownKey = key.length > 40 ? `${key.slice(0, 40)}…` : key;
    if (looksLikeSecretFieldName(key)) {
      const refField = opts.secretRefField ?? (known.includes(`${key}Ref`) ? `${key}Ref` : known.find((k) => /Ref$/.test(k)));
      out.add(
        keyPath,
        `secrets are never inline in the configuration; remove "${shownKey}"` +
          (refField ? ` and set "${refField}" to a reference: ${SECRET_REF_SYNTAX}` : ` and keep the secret in an app setting or Key Vault, referenced as ${SECRET_REF_SYNTAX}`),
      );
      continue;
    }
    const home = Object.entries(opts.nested ?? {}).find(([, fields]) => fields.includes(key));
    if (home) {
      out.add(keyPath, `unknown field "${shownKey}" here; it belongs inside "${home[0]}" (${formatPath([...path, home[0], key])})`);
      continue;
    }
    const guess = closestName(key, known, opts.aliases);
    out.add(
      keyPath,
      guess
        ? `unknown field "${shownKey}"; did you mean "${guess}"?`
        : `unknown field "${shownKey}"; the fields allowed here are ${known.map((k) => `"${k}"`).join(', ')}`,
    );
  }
}
