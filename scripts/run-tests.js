#!/usr/bin/env node
// The test command behind `npm test` (after `pretest` has linted and built):
// starts one Azurite for the whole suite (free ports, in memory), runs every compiled test file
// with node's test runner, stops Azurite, and exits with the runner's code.
// Pass file paths or globs to run a subset: `npm test -- dist/test/unit/*.test.js`.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

async function main() {
  const root = path.join(__dirname, '..');
  const { startAzurite } = require(path.join(root, 'dist/test/support/azurite.js'));
  const azurite = await startAzurite();
  // Options (e.g. --test-name-pattern=...) go to node's test runner; the rest are test files.
  const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const args = ['--test', '--test-reporter=spec', '--test-timeout=900000', ...flags,
    ...(files.length ? files : ['dist/test/**/*.test.js'])];
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, MTC_TEST_STORAGE: azurite.connectionString },
  });
  const stop = async (signal) => { child.kill(signal); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
  await azurite.stop();
  process.exit(code);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
