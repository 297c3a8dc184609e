// The memory benchmark's command line (bench/memory.ts): bad arguments are refused with the flag
// and the fix, and the command exits non-zero; one page is measured end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const SCRIPT = path.join(__dirname, '..', '..', 'bench', 'memory.js');

test('bad --pages or --rows exit non-zero naming the flag and what it takes', () => {
  for (const [args, pattern] of [[['--pages', '0'], /--pages: a comma-separated list of whole numbers from 1 to 64/], [['--pages', '6,x'], /--pages/], [['--rows', '9000'], /--rows: a whole number from 1 to 5000/]] as const) {
    const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

test('one page of 500 rows is measured in its own process: resident memory with the modules and the peak above it', () => {
  const r = spawnSync(process.execPath, [SCRIPT, '--pages', '1', '--rows', '500'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => /^\s+1 \|/.test(l));
  assert.ok(line, r.stdout);
  const [loaded, peak] = [...line.matchAll(/(\d+) MB/g)].map((m) => Number(m[1]));
  assert.ok(loaded! > 30 && peak! >= loaded!, line);
});
