import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFromEnvironment } from '../../shared/components';
import type { ConfigIssue } from '../../shared/config-common/types';

const DOC = {
  sources: [
    {
      id: 'contoso',
      tenantId: 'contoso.onmicrosoft.com',
      auth: { method: 'clientSecret', clientId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', clientSecretRef: 'kv:contoso-secret' },
      destinations: ['local'],
    },
  ],
  destinations: [{ id: 'local', type: 'file', directory: './out' }],
};
const KV = 'https://mtc-vault.vault.azure.net';

function failure(fn: () => unknown): ConfigIssue {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.issues.length, 1, err.message);
    return err.issues[0];
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfigFromEnvironment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtc-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the document from MTC_CONFIG and resolves kv:<name> with KEY_VAULT_URI', () => {
    const loaded = loadConfigFromEnvironment({ MTC_CONFIG: JSON.stringify(DOC), KEY_VAULT_URI: `${KV}/` });
    assert.equal(loaded.origin, 'MTC_CONFIG');
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual((loaded.config.sources[0].auth as { clientSecret?: unknown }).clientSecret, { kind: 'keyVault', vaultUrl: KV, name: 'contoso-secret' });
  });

  it('reads the document from the file in MTC_CONFIG_PATH, ignoring a byte order mark', () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, '\uFEFF' + JSON.stringify(DOC, null, 2));
    const loaded = loadConfigFromEnvironment({ MTC_CONFIG_PATH: file, KEY_VAULT_URI: KV });
    assert.equal(loaded.origin, `MTC_CONFIG_PATH (${file})`);
    assert.equal(loaded.config.sources[0].id, 'contoso');
  });

  it('uses the injected readFile', () => {
    const read: string[] = [];
    const loaded = loadConfigFromEnvironment({ MTC_CONFIG_PATH: '/cfg/mtc.json', KEY_VAULT_URI: KV }, { readFile: (p) => (read.push(p), JSON.stringify(DOC)) });
    assert.deepEqual(read, ['/cfg/mtc.json']);
    assert.equal(loaded.config.destinations[0].id, 'local');
  });

  it('names both settings when neither is set', () => {
    const issue = failure(() => loadConfigFromEnvironment({ MTC_CONFIG: '  ' }));
    assert.equal(issue.path, 'MTC_CONFIG');
    assert.match(issue.message, /set the app setting MTC_CONFIG .* or MTC_CONFIG_PATH/);
  });

  it('refuses both settings at once', () => {
    const issue = failure(() => loadConfigFromEnvironment({ MTC_CONFIG: '{}', MTC_CONFIG_PATH: '/x.json' }));
    assert.equal(issue.path, 'MTC_CONFIG');
    assert.ok(issue.message.includes('both MTC_CONFIG and MTC_CONFIG_PATH are set; set only one'));
  });

  it('reports a missing file under MTC_CONFIG_PATH', () => {
    const issue = failure(() => loadConfigFromEnvironment({ MTC_CONFIG_PATH: join(dir, 'missing.json') }));
    assert.equal(issue.path, 'MTC_CONFIG_PATH');
    assert.ok(issue.message.includes('cannot read the configuration file'));
    assert.ok(issue.message.includes('the file does not exist'));
  });

  it('reports a folder given as MTC_CONFIG_PATH', () => {
    const issue = failure(() => loadConfigFromEnvironment({ MTC_CONFIG_PATH: dir }));
    assert.equal(issue.path, 'MTC_CONFIG_PATH');
    assert.ok(issue.message.includes('it is a folder'), issue.message);
  });

  it('reports invalid JSON with line and column, without quoting the text', () => {
    const secret = 'Zx8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789';
    const text = `{\n  "sources": [\n    {"clientSecret": "${secret}" "id": "x"}\n  ]\n}`;
    const issue = failure(() => loadConfigFromEnvironment({ MTC_CONFIG: text }));
    assert.equal(issue.path, 'MTC_CONFIG');
    assert.ok(issue.message.includes('is not valid JSON (line 3, column 66'), issue.message);
    assert.ok(issue.message.includes("expected ',' or '}'"), issue.message);
    assert.ok(!issue.message.includes(secret));
  });

  it('explains comments, trailing commas and single quotes in a JSON file', () => {
    const read = (text: string) => () => loadConfigFromEnvironment({ MTC_CONFIG_PATH: '/c.json' }, { readFile: () => text });
    const comment = failure(read('{\n  // the sources\n  "sources": []\n}'));
    assert.equal(comment.path, 'MTC_CONFIG_PATH');
    assert.ok(comment.message.includes('the file "/c.json" is not valid JSON (line 2, column 3: comments are not allowed in JSON'), comment.message);
    assert.ok(failure(read('{"sources": [1,],}')).message.includes('line 1, column 16: a comma before "]"'));
    assert.ok(failure(read("{'sources': []}")).message.includes('need double quotes'));
    assert.ok(failure(read('')).message.includes('unexpected end of the text'));
  });

  it('passes on the document problems with their JSON paths', () => {
    let err: unknown;
    try {
      loadConfigFromEnvironment({ MTC_CONFIG: JSON.stringify(DOC) });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.equal(err.issues[0].path, 'sources[0].auth.clientSecretRef');
    assert.ok(err.issues[0].message.includes('KEY_VAULT_URI is not set'));
  });
});
