/**
 * Issue 15: the `mtc` command line. Every subcommand has --help with examples; an unknown option or
 * command is refused (exit 2) with a suggestion; `diagnose <source>` takes the source as its first
 * argument with --config or MTC_CONFIG_PATH; errors of a --config file name that file. The
 * commands run as child processes, as a user runs them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator } from '../../simulator';
import { MTC, runNode, type ChildResult } from '../auth-cli/support';

const SUBCOMMANDS = ['start', 'diagnose', 'backfill', 'status', 'replay', 'simulator', 'bench', 'soak'];
const explain = (r: ChildResult) => `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const mtc = (args: string[], env: NodeJS.ProcessEnv = {}) => runNode(MTC, args, env, 60_000);

describe('mtc --help', () => {
  it('lists every subcommand', async () => {
    const r = await mtc(['--help']);
    assert.equal(r.code, 0, explain(r));
    for (const c of SUBCOMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `${c} listed\n${explain(r)}`);
  });

  for (const c of SUBCOMMANDS) {
    it(`mtc ${c} --help shows its usage and examples and exits 0`, async () => {
      const r = await mtc([c, '--help']);
      assert.equal(r.code, 0, explain(r));
      assert.match(r.stdout, new RegExp(`^Usage: mtc ${c} `, 'm'), explain(r));
      assert.match(r.stdout, /^Examples:\n {2}\S/m, explain(r));
    });
  }
});

describe('mtc refuses what it does not know', () => {
  it('an unknown option exits 2 and suggests the close one', async () => {
    const r = await mtc(['start', '--onec']);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /unknown option '--onec'/, explain(r));
    assert.match(r.stderr, /Did you mean --once\?/, explain(r));
  });

  it('an unknown command exits 2 and suggests the close one', async () => {
    const r = await mtc(['diagnoze', 'contoso']);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /Did you mean diagnose\?/, explain(r));
  });

  it('a bad option value exits 2 naming the option', async () => {
    const r = await mtc(['start', '--once', '--give-up-after', 'soon']);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /--give-up-after/, explain(r));
  });
});

describe('mtc diagnose <source>', () => {
  let sim: Simulator;
  let dir: string;
  let file: string;
  let caFile: string;
  before(async () => {
    sim = await startSimulator({ https: true, seed: 5, tenants: [{ rowsPerDay: 500 }] });
    dir = await mkdtemp(path.join(tmpdir(), 'mtc-cli-'));
    caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, sim.caCertificatePem ?? '');
    const t = sim.tenants[0]!;
    file = path.join(dir, 'contoso.json');
    await writeFile(file, JSON.stringify({
      sources: [{ id: 'contoso', tenantId: t.tenantId, endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
        auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:CONTOSO_SECRET' }, destinations: ['local'] }],
      destinations: [{ id: 'local', type: 'file', directory: path.join(dir, 'out') }],
    }));
  });
  after(async () => { await sim?.stop(); });

  const env = () => ({ NODE_EXTRA_CA_CERTS: caFile, CONTOSO_SECRET: sim.tenants[0]!.clientSecret });

  it('diagnoses the source named first, with --config', async () => {
    const r = await mtc(['diagnose', 'contoso', '--config', file], env());
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /source contoso \(graph, clientSecret\): Collecting \[Ok\]/, explain(r));
  });

  it('reads the file from MTC_CONFIG_PATH the same way', async () => {
    const r = await mtc(['diagnose', 'contoso'], { ...env(), MTC_CONFIG_PATH: file });
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /Collecting \[Ok\]/, explain(r));
  });

  it('names the sources when the one asked for is not configured (exit 2)', async () => {
    const r = await mtc(['diagnose', 'fabrikam', '--config', file], env());
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /no source "fabrikam" is configured; the sources are "contoso"/, explain(r));
  });

  it('labels the errors of a --config file with that file, not MTC_CONFIG_PATH', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ sources: [{ id: 'x', tenantId: 'not-a-tenant', auth: { method: 'clientSecret' }, destinations: ['d'] }], destinations: [{ id: 'd', type: 'file', directory: dir }] }));
    const r = await mtc(['diagnose', 'x', '--config', bad], env());
    assert.equal(r.code, 2, explain(r));
    assert.ok(r.stderr.includes(`${bad}: sources[0]`), explain(r));
    assert.doesNotMatch(r.stderr, /MTC_CONFIG_PATH/, explain(r));
    const missing = await mtc(['start', '--once', '--config', path.join(dir, 'nope.json')], env());
    assert.equal(missing.code, 2, explain(missing));
    assert.match(missing.stderr, /--config: cannot read the configuration file ".*nope\.json": the file does not exist/, explain(missing));
  });
});
