/**
 * Option validation (every error names the option) and the command line (simulator/cli.ts):
 * a bad option exits with code 2 naming it; a good run prints URLs, credentials and curl lines.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseSimulatorOptions, SimulatorOptionsError, startSimulator, type SimulatorOptions } from '../../simulator/index';
import { parseCliArgs } from '../../simulator/cli';

const CLI = path.join(__dirname, '..', '..', 'simulator', 'cli.js');

describe('parseSimulatorOptions', () => {
  const cases: [string, unknown, string][] = [
    ['an unknown top-level option', { bogus: 1 }, 'bogus'],
    ['an unknown nested option', { graph: { maxtop: 10 } }, 'graph.maxtop'],
    ['graph.maxTop below 1', { graph: { maxTop: 0 } }, 'graph.maxTop'],
    ['a bad boundaryRepeats value', { graph: { boundaryRepeats: 'some' } }, 'graph.boundaryRepeats'],
    ['a bad tenant id', { tenants: [{ tenantId: 'contoso' }] }, 'tenants[0].tenantId'],
    ['a negative visibility delay', { tenants: [{ traffic: { visibilityDelay: { minMs: -1, maxMs: 10 } } }] }, 'tenants[0].traffic.visibilityDelay.minMs'],
    ['an unknown traffic field', { tenants: [{}, { traffic: { rowsPerHour: 3 } }] }, 'tenants[1].traffic.rowsPerHour'],
    ['an unknown fault kind', { faults: [{ kind: 'explode' }] }, 'faults[0].kind'],
    ['a fault probability above 1', { faults: [{ kind: '500', probability: 2 }] }, 'faults[0].probability'],
    ['a port out of range', { port: 70000 }, 'port'],
    ['a clock that is not a Clock', { clock: { now: 1 } }, 'clock'],
    ['defaultTop above maxTop', { graph: { maxTop: 10, defaultTop: 20 } }, 'graph.defaultTop'],
    ['a domain shared by two tenants', { tenants: [{}, { traffic: { acceptedDomains: ['contoso.com'] } }] }, 'tenants[1].traffic.acceptedDomains'],
  ];
  for (const [what, input, option] of cases) {
    test(`${what} is rejected with an error naming ${option}`, () => {
      assert.throws(() => parseSimulatorOptions(input as SimulatorOptions), (err: unknown) => {
        assert.ok(err instanceof SimulatorOptionsError);
        assert.equal(err.option, option);
        assert.ok(err.message.includes(option), err.message);
        return true;
      });
    });
  }

  test('defaults follow the reference: 100 requests per 5 minutes, $top 1000 of at most 5000, 10-day windows, 90 days back, RWS 2000 and 10 days', () => {
    const o = parseSimulatorOptions();
    assert.deepEqual(o.throttle, { limit: 100, windowMs: 300_000, countRejected: false });
    assert.equal(o.graph.defaultTop, 1000);
    assert.equal(o.graph.maxTop, 5000);
    assert.equal(o.graph.maxWindowDays, 10);
    assert.equal(o.graph.maxLookbackDays, 90);
    assert.equal(o.rws.maxTop, 2000);
    assert.equal(o.rws.maxLookbackDays, 10);
    assert.equal(o.tokenLifetimeSec, 3599);
    assert.equal(o.tenants.length, 1);
    assert.equal(o.tenants[0]!.traffic.rowsPerDay, 50_000);
  });

  test('startSimulator rejects bad options before listening', async () => {
    await assert.rejects(startSimulator({ throttle: { limit: 0, windowMs: 1000 } }), /throttle\.limit/);
  });
});

describe('command line', () => {
  const run = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });

  for (const [args, option] of [[['--bogus'], '--bogus'], [['--port', 'abc'], '--port'], [['--fault', 'explode:0.5'], '--fault'], [['--speed', '0'], '--speed'], [['--rows-per-day'], '--rows-per-day'],
    [['--detail-retention-days', '0'], '--detail-retention-days'], [['--detail-beyond-retention', 'never'], '--detail-beyond-retention'], [['--detail-page-size', '1.5'], '--detail-page-size']] as const) {
    test(`${args.join(' ')} exits with code 2 and a message naming ${option}`, async () => {
      const r = await run([...args]);
      assert.equal(r.code, 2);
      assert.ok(r.stderr.includes(option), r.stderr);
    });
  }

  test('parses every documented option into simulator options', () => {
    const { options } = parseCliArgs(['--port', '8443', '--https', '--seed', '9', '--rows-per-day', '1000', '--tenants', '2', '--latency-ms', '20', '--speed', '60', '--fault', '503:0.1', '--fault=html:0.02'], () => 1_000);
    assert.equal(options.port, 8443);
    assert.equal(options.https, true);
    assert.equal(options.seed, 9);
    assert.deepEqual(options.tenants, [{ rowsPerDay: 1000 }, { rowsPerDay: 1000 }]);
    assert.deepEqual(options.latency, { meanMs: 20 });
    assert.deepEqual(options.faults, [{ kind: '503', probability: 0.1 }, { kind: 'html', probability: 0.02 }]);
    assert.match(options.clock!.describe(), /accelerated x60/);
  });

  test('the getDetailsByRecipient flags set graph.detailRetentionDays, detailBeyondRetention and detailPageSize', () => {
    const { options } = parseCliArgs(['--detail-retention-days', '2', '--detail-beyond-retention', 'badRequest', '--detail-page-size', '3'], () => 1_000);
    assert.deepEqual(options.graph, { detailRetentionDays: 2, detailBeyondRetention: 'badRequest', detailPageSize: 3 });
    const resolved = parseSimulatorOptions(options).graph;
    assert.equal(resolved.detailRetentionDays, 2);
    assert.equal(parseCliArgs([], () => 1_000).options.graph, undefined, 'no flag, no graph options');
    assert.equal(parseSimulatorOptions().graph.detailRetentionDays, 90);
    assert.equal(parseSimulatorOptions().graph.detailPageSize, 0);
  });

  test('starts, prints the URLs, each tenant\'s credentials and a curl sequence, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, '--port', '0', '--tenants', '2', '--seed', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`CLI did not get ready: ${out}`)), 20_000);
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('Ready.')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const expected = parseSimulatorOptions({ seed: 3, tenants: 2 }).tenants;
    for (const t of expected) {
      assert.ok(out.includes(t.tenantId) && out.includes(t.clientId) && out.includes(t.clientSecret));
    }
    assert.match(out, /Graph: +http:\/\/127\.0\.0\.1:\d+\/v1\.0\/admin\/exchange\/tracing\/messageTraces/);
    assert.match(out, /RWS: +http:\/\/127\.0\.0\.1:\d+\/ecp\/reportingwebservice\/reporting\.svc\/MessageTrace/);
    assert.match(out, /curl -s -X POST '.*\/oauth2\/v2\.0\/token'/);
    const base = /authority \(Entra\): (\S+)/.exec(out)![1]!;
    assert.equal((await fetch(`${base}/v1.0/admin/exchange/tracing/messageTraces`)).status, 401, 'the server answers');
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGINT');
    });
    assert.equal(code, 0);
  });
});
