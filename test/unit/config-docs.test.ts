import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, loadConfigFromEnvironment, parseConfig } from '../../shared/components';
import { APP_SETTINGS } from '../../shared/settings';
import { clampToHistory } from '../../shared/time/expressions';

/** docs/configuration.md, found from the compiled test's folder upwards. */
function docPath(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const p = join(dir, 'docs', 'configuration.md');
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) throw new Error('docs/configuration.md not found');
  }
}
const DOC_TEXT = readFileSync(docPath(), 'utf8');

function section(heading: string): string {
  const start = DOC_TEXT.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/configuration.md has no "## ${heading}" section`);
  const end = DOC_TEXT.indexOf('\n## ', start + 1);
  return DOC_TEXT.slice(start, end < 0 ? undefined : end);
}

function jsonBlocks(text: string): unknown[] {
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]));
}

const TENANT = '8f2c1a9e-3b4d-4c6e-9f01-23456789abcd';
const CLIENT = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const ENV = { KEY_VAULT_URI: 'https://mtc-kv.vault.azure.net', CONTOSO_SECRET: 'x', FABRIKAM_SECRET: 'x' };

const source = (extra: Record<string, unknown> = {}) => ({
  id: 'contoso',
  tenantId: TENANT,
  auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef: 'env:CONTOSO_SECRET' },
  destinations: ['siem'],
  ...extra,
});
const http = (extra: Record<string, unknown> = {}) => ({ id: 'siem', type: 'http', url: 'https://siem.example.com/ingest', ...extra });
const auth = (extra: Record<string, unknown>) => ({ auth: { method: 'clientSecret', clientId: CLIENT, ...extra } });

function errorLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('docs/configuration.md', () => {
  it('has a complete example and a minimal example that are valid as written', () => {
    const docs = jsonBlocks(section('Complete example'));
    assert.equal(docs.length, 2);
    const full = parseConfig(docs[0], { env: ENV });
    assert.deepEqual(full.warnings, []);
    assert.equal(full.config.sources.length, 2);
    assert.equal(full.config.destinations.length, 2);
    assert.deepEqual(parseConfig(docs[1], { env: ENV }).warnings, []);
  });

  it('lists every app setting declared in shared/settings.ts', () => {
    const table = section('App settings');
    for (const s of APP_SETTINGS) {
      assert.ok(table.includes(`| \`${s.name}\` | ${s.requiredInAzure ? 'yes' : 'no'} |`), `setting ${s.name} (required in Azure: ${s.requiredInAzure}) is missing from the table`);
    }
  });

  it('quotes the exact error text of each common mistake', () => {
    const mistakes = section('Common mistakes');
    const cases: (() => unknown)[] = [
      () => parseConfig({ sources: [source(auth({ clientSecret: 'xyz' }))], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source()], destinations: [http({ headers: { Authorization: 'Bearer xyz' } })] }, { env: ENV }),
      () => parseConfig({ sources: [source(auth({ clientSecretRef: 'kv:mtc-contoso-client-secret' }))], destinations: [http()] }, { env: {} }),
      () => parseConfig({ sources: [source()], destinations: [http({ url: 'http://siem.example.com/ingest' })] }, { env: ENV }),
      () => parseConfig({ sources: [source()], destinations: [http({ url: 'http://127.0.0.1:8088/ingest' })] }, { env: ENV }),
      () => parseConfig({ sources: [source({ destinations: ['splunk'] })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source(), source()], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ cloud: 'gcchigh' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ api: 'rws' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ start: '2026-11-01T00:00:00' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ start: 1793491200000 })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ sliceLenght: '1h' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ pageSize: '5000' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ collectionDelay: '2d', sliceLength: '30s' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ pollInterval: '1 month' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ tenantId: 'common' })], destinations: [http()] }, { env: ENV }),
      () => parseConfig({ sources: [source({ fields: { tenantId: 'x' } })], destinations: [http()] }, { env: ENV }),
      () => loadConfigFromEnvironment({}),
      () => loadConfigFromEnvironment({ MTC_CONFIG_PATH: '/home/site/config.json' }, { readFile: () => '{\n  "sources": [],\n  // old\n}' }),
      () =>
        loadConfigFromEnvironment({ MTC_CONFIG_PATH: '/home/site/config.json' }, {
          readFile: () => {
            throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
          },
        }),
    ];
    for (const c of cases) {
      for (const line of errorLines(c)) assert.ok(mistakes.includes(`${line}\n`), `docs/configuration.md does not quote:\n${line}`);
    }
  });

  it('quotes the exact warnings', () => {
    const warnings = section('Warnings');
    const unused = parseConfig({ sources: [source()], destinations: [http(), { id: 'archive', type: 'file', directory: './out' }] }, { env: ENV }).warnings;
    const disabled = parseConfig({ sources: [source({ enabled: false })], destinations: [http()] }, { env: {} }).warnings;
    for (const w of [...unused, ...disabled]) assert.ok(warnings.includes(`- \`${w}\``), `docs/configuration.md does not quote:\n${w}`);
    const clamp = clampToHistory(Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-11-18T14:37:12Z')).warning!;
    assert.ok(section('Times').includes(clamp), `docs/configuration.md does not quote:\n${clamp}`);
  });
});
