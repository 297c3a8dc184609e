#!/usr/bin/env node
// The test command behind `npm test` (after `pretest` has linted and built):
// starts one Azurite for the whole suite (free ports, in memory), runs every compiled test file
// with node's test runner, stops Azurite, and exits with the runner's code.
// Pass file paths or globs to run a subset: `npm test -- dist/test/unit/*.test.js`.
// Files run two at a time at least (node's default is one fewer than the cores, so one on a
// 2-core machine): a file alternates between its own CPU and Azurite's, so two files keep two
// cores busy (a profiled suite run: about 40% of its CPU was Azurite's). MTC_TEST_CONCURRENCY=<n>
// sets another number (1 runs one at a time).
// Each test process deletes the queues, tables and containers it made when it is done
// (test/support/azurite.ts); MTC_TEST_KEEP_STORAGE=1 keeps them, to look at a failed test's state.
'use strict';
const { spawn } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

function concurrency() {
  const asked = process.env.MTC_TEST_CONCURRENCY;
  if (asked === undefined || asked === '') return Math.max(2, os.availableParallelism() - 1);
  const n = Number(asked);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`MTC_TEST_CONCURRENCY must be a whole number of test files to run at once (1 or more), got "${asked}"`);
    process.exit(2);
  }
  return n;
}

async function main() {
  const root = path.join(__dirname, '..');
  const { startAzurite } = require(path.join(root, 'dist/test/support/azurite.js'));
  const testConcurrency = concurrency();
  const azurite = await startAzurite();
  // Options (e.g. --test-name-pattern=...) go to node's test runner; the rest are test files.
  const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const args = ['--test', '--test-reporter=spec', '--test-timeout=900000', `--test-concurrency=${testConcurrency}`, ...flags,
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
