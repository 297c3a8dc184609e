/**
 * Memory of page jobs in flight on one instance (issue 19: may an instance of 512 MB, or more page
 * jobs an instance, hold them?). `node dist/bench/memory.js [--pages 1,6,12,16] [--rows 5000]`
 *
 * Each count runs in a fresh Node process that loads what the page worker loads (the collector's
 * modules, the Azure Storage SDKs, the Application Insights distro, not started) and then holds
 * that many real 5,000-row Graph pages at once through the page's own work: the response body,
 * the parsed and validated rows (parseGraphResponse), the normalised events serialised as NDJSON,
 * and its gzip: everything a page job keeps between its fetch and its destination's answer. Every
 * page's buffers stay alive until the last page is done (the worst case: all of them waiting on
 * their destinations at once). It prints the process's resident memory after loading the modules
 * and its peak (getrusage maxrss) with the pages, and the difference per page.
 *
 * What it does not measure: the Functions host (a separate .NET process on the same instance,
 * whose memory counts against instanceMemoryMB too), the HTTP and storage clients' own buffers
 * while a request is on the wire, and the V8 heap's headroom for garbage collection under load.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- each process loads exactly the modules it measures, when it measures them (the parent's simulator stays out of the child) */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface ChildResult { pages: number; rows: number; pageBytes: number; loadedRssMB: number; peakRssMB: number; heapUsedMB: number }

async function child(file: string, pages: number): Promise<ChildResult> {
  // What the page worker's process loads (functions/pageWorker.ts and its imports).
  require('../shared/worker/page-worker');
  require('../shared/runtime');
  require('@azure/data-tables');
  require('@azure/storage-queue');
  require('@azure/storage-blob');
  require('applicationinsights');
  const { parseGraphResponse } = require('../shared/api/graph/client') as typeof import('../shared/api/graph/client');
  const { processPage } = require('./process-page') as typeof import('./process-page');
  const sample = JSON.parse(fs.readFileSync(file, 'utf8')) as { body: string; tenantId: string; startMs: number; endMs: number };
  global.gc?.();
  const loadedRss = process.memoryUsage().rss;
  const held: unknown[] = [];
  let rows = 0;
  await Promise.all(Array.from({ length: pages }, async (_, i) => {
    // Each page its own copy of the body, as each job receives its own response.
    const body = `${sample.body.slice(0, -1)}${' '.repeat(i % 2)}}`;
    const parsed = parseGraphResponse(200, {}, body, false);
    rows = parsed.rows.length;
    held.push(body, parsed);
    await processPage({ tenantId: sample.tenantId, sourceId: `bench-${i}`, rows: parsed.rows, startMs: sample.startMs, endMs: sample.endMs, collectedAt: new Date().toISOString(), retain: held });
  }));
  const heapUsed = process.memoryUsage().heapUsed;
  const peak = process.resourceUsage().maxRSS * 1024;
  if (!held.length) throw new Error('nothing held');
  return { pages, rows, pageBytes: Buffer.byteLength(sample.body), loadedRssMB: loadedRss / 2 ** 20, peakRssMB: peak / 2 ** 20, heapUsedMB: heapUsed / 2 ** 20 };
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  if (argv[0] === '--child') {
    process.stdout.write(JSON.stringify(await child(argv[1]!, Number(argv[2]))));
    return;
  }
  const counts = (arg('--pages') ?? '1,6,12,16').split(',').map(Number);
  const rows = Number(arg('--rows') ?? 5000);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error('--pages: a comma-separated list of whole numbers from 1 to 64, for example --pages 1,6,12');
  if (!Number.isInteger(rows) || rows < 1 || rows > 5000) throw new Error('--rows: a whole number from 1 to 5000 (a Graph page holds at most 5000)');
  const { samplePage } = require('./page-cost') as typeof import('./page-cost');
  const page = await samplePage(rows);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mtc-memory-')), 'page.json');
  fs.writeFileSync(file, JSON.stringify(page));
  console.log(`page jobs in flight at once, each holding a ${rows}-row Graph page (${(Buffer.byteLength(page.body) / 2 ** 20).toFixed(1)} MB of JSON) through parse, normalise, NDJSON and gzip; one fresh Node ${process.version} process per count:`);
  console.log('pages | RSS with the modules loaded | peak RSS | heap used at the peak | peak over loaded, per page');
  for (const n of counts) {
    const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', file, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`the child for ${n} page(s) failed (exit ${r.status}): ${r.stderr}`);
    const c = JSON.parse(r.stdout) as ChildResult;
    console.log(`${String(n).padStart(5)} | ${c.loadedRssMB.toFixed(0).padStart(4)} MB | ${c.peakRssMB.toFixed(0).padStart(4)} MB | ${c.heapUsedMB.toFixed(0).padStart(4)} MB | ${((c.peakRssMB - c.loadedRssMB) / n).toFixed(1)} MB`);
  }
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`mtc memory benchmark: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
