/**
 * Issue 15, "docs that cannot drift": the source states, the HTTP routes and the app settings in the
 * docs are generated from their declarations (shared/reference-docs.ts; `npm run docs` rewrites
 * them), and these tests fail when a doc holds anything else. Also: every envelope field is in the
 * envelope table, every HTTP function registers a declared route, and no doc links a missing file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { blockText, currentBlock, GENERATED_BLOCKS } from '../../shared/reference-docs';
import { HTTP_ROUTES } from '../../shared/http-api';
import { SOURCE_STATES } from '../../shared/health';
import { makeEvent } from '../../shared/model/row';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

describe('generated docs', () => {
  for (const b of GENERATED_BLOCKS) {
    it(`${b.doc} holds exactly the generated "${b.name}" block`, () => {
      const text = read(b.doc);
      const current = currentBlock(text, b);
      assert.ok(current !== undefined, `${b.doc} has the markers of "${b.name}"`);
      assert.equal(current, blockText(b), `${b.doc}: the "${b.name}" block is out of date; run npm run docs`);
    });
  }

  it('lists every state of the type in the states table, and only those', () => {
    const table = currentBlock(read('docs/operations.md'), GENERATED_BLOCKS.find((b) => b.name === 'source-states')!)!;
    const listed = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(listed.sort(), SOURCE_STATES.map((s) => s.state).sort());
  });

  it('every HTTP function registers its route from the declarations', () => {
    const dir = path.join(ROOT, 'functions');
    const registered: string[] = [];
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(/app\.http\('(\w+)', \{([^}]*)\}/g)) {
        assert.match(m[2]!, new RegExp(`\\.\\.\\.httpTrigger\\('${m[1]}'\\)`), `functions/${f}: app.http('${m[1]}') takes its route from httpTrigger`);
        registered.push(m[1]!);
      }
    }
    assert.deepEqual(registered.sort(), Object.keys(HTTP_ROUTES).sort());
  });

  it('the envelope table of docs/api.md lists every envelope field', () => {
    const api = read('docs/api.md');
    const event = makeEvent({
      tenantId: 't', sourceId: 's', api: 'graph/v1.0', collectedAt: '2026-01-01T00:00:00Z', fields: {}, collectedBy: 'live',
      row: { id: 'i', recipientAddress: 'r@example.com', receivedDateTime: '2026-01-01T00:00:00Z', status: 'delivered' } as never,
    });
    for (const key of Object.keys(event)) assert.match(api, new RegExp(`^\\| \`${key}\` \\|`, 'm'), `docs/api.md describes the envelope field ${key}`);
  });

  it('no doc links a file that does not exist', () => {
    const docs = ['README.md', 'simulator/README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    for (const doc of docs) {
      const text = read(doc);
      for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        assert.ok(fs.existsSync(path.join(ROOT, path.dirname(doc), target)), `${doc} links ${target}, which does not exist`);
      }
      for (const m of text.matchAll(/\((docs\/[\w.-]+\.md)\)/g)) assert.ok(fs.existsSync(path.join(ROOT, m[1]!)), `${doc} names ${m[1]}, which does not exist`);
      assert.doesNotMatch(text, /`\/work\//, `${doc} cites a path outside the repository`);
    }
  });
});
