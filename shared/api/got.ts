/**
 * The one place that loads `got`. got is ESM-only and this project compiles to CommonJS (see the
 * README's development section), so it is loaded with a dynamic import, once.
 */
import type { Got } from 'got' with { 'resolution-mode': 'import' };

let gotPromise: Promise<Got> | undefined;

export function loadGot(): Promise<Got> {
  gotPromise ??= import('got').then((m) => m.default);
  return gotPromise;
}
