/** Paths in the source tree for the compiled tests (which run from dist/test/). */
import path from 'node:path';

/** A path from the repository root. */
export function repoPath(...parts: string[]): string {
  return path.resolve(__dirname, '..', '..', '..', ...parts);
}

/** A component's test data: `shared/<kind>/<name>/testdata/<file>`. */
export function componentTestdata(kind: 'destinations' | 'formats', name: string, ...file: string[]): string {
  return repoPath('shared', kind, name, 'testdata', ...file);
}
