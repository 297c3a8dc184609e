/**
 * Issue 15: a continuous `mtc start` shows progress (log lines when not on a terminal), answers
 * `mtc status` and `mtc backfill` over its HTTP API, and on SIGTERM prints the summary and exits 0.
 * The collector runs as a child process against the simulator in this process and embedded storage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator } from '../../simulator';
import { MTC, REPO, runNode, type ChildResult } from '../auth-cli/support';

let sim: Simulator;
let dir: string;
let child: ChildProcess;
let stdout = '';
let stderr = '';
let exited: Promise<number | null>;

const explain = (r: ChildResult) => `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

async function waitFor(re: RegExp, timeoutMs = 90_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(stdout);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${re} in the output within ${timeoutMs} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  sim = await startSimulator({ https: true, seed: 9, tenants: [{ rowsPerDay: 2_000 }] });
  dir = await mkdtemp(path.join(tmpdir(), 'mtc-host-'));
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, sim.caCertificatePem ?? '');
  const t = sim.tenants[0]!;
  const file = path.join(dir, 'contoso.json');
  await writeFile(file, JSON.stringify({
    sources: [{ id: 'contoso', tenantId: t.tenantId, endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
      auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:CONTOSO_SECRET' },
      start: '-2h@h', collectionDelay: '5m', sliceLength: '1h', destinations: ['local'] }],
    destinations: [{ id: 'local', type: 'file', directory: path.join(dir, 'out') }],
  }));
  child = spawn(process.execPath, [MTC, 'start', '--config', file, '--port', '0', '--progress-every', '2s'], {
    cwd: REPO, env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: caFile, CONTOSO_SECRET: t.clientSecret, MTC_PLAN_SCHEDULE: '*/5 * * * * *' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  exited = new Promise((r) => child.on('exit', (code) => r(code)));
});

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await sim?.stop();
});

describe('a running mtc start', () => {
  let url: string;
  let key: string;

  it('shows progress per source as log lines when not on a terminal', async () => {
    const m = await waitFor(/HTTP API: +(\S+) +\(header x-functions-key: (\S+)\)/);
    url = m[1]!;
    key = m[2]!;
    await waitFor(/\[progress\] contoso Collecting: [1-9]\d* rows forwarded, [\d.]+ rows\/s, lag \S.*, budget \d+\/\d+/);
  });

  it('answers mtc status over its HTTP API', async () => {
    const r = await runNode(MTC, ['status', '--url', url, '--key', key], {});
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /source contoso: Collecting, lag \d+ s/, explain(r));
    const denied = await runNode(MTC, ['status', '--url', url], {});
    assert.equal(denied.code, 1, explain(denied));
    assert.match(denied.stderr, /401: it needs the function key; pass --key/, explain(denied));
  });

  it('starts a backfill with mtc backfill and follows it to the end', async () => {
    const r = await runNode(MTC, ['backfill', 'contoso', '--start', '-6h@h', '--end', '-3h@h', '--wait', '--url', url, '--key', key], {}, 120_000);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /backfill started: run \S+/, explain(r));
    assert.match(r.stdout, /run \S+: done, slices (\d+)\/\1 done, 0 parked/, explain(r));
  });

  it('prints the summary on SIGTERM and exits 0', async () => {
    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, `--- stdout\n${stdout}\n--- stderr\n${stderr}`);
    assert.match(stdout, /SIGTERM: stopping/);
    assert.match(stdout, /^ {2}source contoso: state Collecting, rows fetched [1-9]/m);
    assert.match(stdout, /state kept in .*\.mtc-state/);
  });
});
