/**
 * Issue 15: a source's `logLevel` does what docs/configuration.md says: lines that carry the
 * source's id are written from that level up; other lines keep the default (info).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../shared/components';
import { levelFiltered, MemoryLogger } from '../../shared/log';
import { sourceConfigHash } from '../../shared/runtime';

const source = (id: string, extra: Record<string, unknown> = {}) => ({
  id, tenantId: 'contoso.onmicrosoft.com', auth: { method: 'managedIdentity' }, destinations: ['out'], ...extra,
});
const doc = { sources: [source('quiet', { logLevel: 'warn' }), source('noisy', { logLevel: 'debug' }), source('plain')], destinations: [{ id: 'out', type: 'file', directory: '/tmp/mtc-log-level' }] };

describe('a source\'s logLevel', () => {
  it('is parsed, defaults to info, and rejects other values naming the choices', () => {
    const { config } = parseConfig(doc, { env: {} });
    assert.deepEqual(config.sources.map((s) => s.logLevel), ['warn', 'debug', 'info']);
    assert.throws(() => parseConfig({ ...doc, sources: [source('x', { logLevel: 'verbose' })] }, { env: {} }), /sources\[0\]\.logLevel: must be "debug", "info" \(the default\), "warn" or "error"/);
  });

  it('filters the lines of that source only', () => {
    const { config } = parseConfig(doc, { env: {} });
    const levels = new Map(config.sources.map((s) => [s.id, s.logLevel]));
    const memory = new MemoryLogger();
    const log = levelFiltered(memory, (id) => levels.get(id));
    for (const src of ['quiet', 'noisy', 'plain']) for (const level of ['debug', 'info', 'warn', 'error'] as const) log.log(level, `${src} ${level}`, { source: src });
    log.log('debug', 'host debug');
    log.log('info', 'host info');
    assert.deepEqual(memory.lines.map((l) => l.message), [
      'quiet warn', 'quiet error',
      'noisy debug', 'noisy info', 'noisy warn', 'noisy error',
      'plain info', 'plain warn', 'plain error',
      'host info',
    ]);
  });

  it('is not part of the configuration hash: changing it neither re-runs the preflight nor resumes a stopped source', () => {
    const { config } = parseConfig(doc, { env: {} });
    const quiet = config.sources[0]!;
    assert.equal(sourceConfigHash({ ...quiet, logLevel: 'debug' }), sourceConfigHash(quiet));
    assert.notEqual(sourceConfigHash({ ...quiet, pageSize: 10 }), sourceConfigHash(quiet));
  });
});
