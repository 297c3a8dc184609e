/**
 * Issue 18, "one registration point per component": every registered destination, format, auth
 * method and source API is a folder with a README.md that names its registry line, and the README's
 * links (files and headings) resolve.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AUTH_METHODS } from '../../shared/auth/registry';
import { SOURCE_APIS } from '../../shared/api/registry';
import { DESTINATIONS } from '../../shared/destinations/registry';
import { FORMATS } from '../../shared/formats/registry';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
const anchorsOf = (md: string) => new Set([...md.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^\w\s-]/g, '').trim().replace(/\s/g, '-')));

const folders: [string, string][] = [
  ...DESTINATIONS.map((d) => [`shared/destinations/${d.type}`, d.type] as [string, string]),
  ...FORMATS.map((f) => [`shared/formats/${f.name}`, f.name] as [string, string]),
  ...AUTH_METHODS.map((m) => [`shared/auth/${kebab(m.method)}`, m.method] as [string, string]),
  ...SOURCE_APIS.map((a) => [`shared/api/${a.name}`, a.name] as [string, string]),
];

describe('component folders', () => {
  for (const [folder, name] of folders) {
    it(`${folder} has a README.md that names "${name}", its registry line and live links`, () => {
      const readme = path.join(ROOT, folder, 'README.md');
      assert.ok(fs.existsSync(readme), `${folder}/README.md exists`);
      const text = fs.readFileSync(readme, 'utf8');
      assert.match(text, new RegExp(`^# .*\`${name}\``, 'm'));
      const line = /one line in \[`\.\.\/registry\.ts`\]\(\.\.\/registry\.ts\): `(\w+),`/.exec(text);
      assert.ok(line, `${folder}/README.md names its registry line`);
      const registry = fs.readFileSync(path.join(ROOT, folder, '..', 'registry.ts'), 'utf8');
      assert.match(registry, new RegExp(`^  ${line[1]},$`, 'm'), `${line[1]} is one line of ${path.dirname(folder)}/registry.ts`);
      for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#([^)]*))?\)/g)) {
        const target = path.join(ROOT, folder, m[1]!);
        assert.ok(fs.existsSync(target), `${folder}/README.md links ${m[1]}, which does not exist`);
        if (m[2]) assert.ok(anchorsOf(fs.readFileSync(target, 'utf8')).has(m[2]), `${folder}/README.md links ${m[1]}#${m[2]}, a heading that does not exist`);
      }
    });
  }
});
