/**
 * Application Insights start-up: it loads before anything it instruments, it authenticates
 * ingestion with the managed identity when the authentication string asks for Entra ID, and
 * custom events reach it through the shim's trackEvent. Nothing here talks to the network: the
 * `applicationinsights` module is replaced by a recording fake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ManagedIdentityCredential } from '@azure/identity';
import { emitCustomEvent, forgetTelemetryClient, isQuietDependency, LazyManagedIdentityCredential, startTelemetry, TELEMETRY_DESIGN, telemetryDesign, telemetrySettingsFrom, type AppInsightsModule } from '../../shared/telemetry-setup';
import { OtelTelemetry, EVENTS } from '../../shared/telemetry';
import { MemoryLogger } from '../../shared/log';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const CONNECTION = 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/';
const UAMI = '11111111-2222-3333-4444-555555555555';

interface FakeAi extends AppInsightsModule {
  calls: string[];
  events: { name: string; properties?: Record<string, string> }[];
}

function fakeAppInsights(): FakeAi {
  const calls: string[] = [];
  const events: FakeAi['events'] = [];
  const chain = {
    setAutoCollectConsole(v: boolean) { calls.push(`setAutoCollectConsole(${v})`); return chain; },
    setSendLiveMetrics(v: boolean) { calls.push(`setSendLiveMetrics(${v})`); return chain; },
    start() { calls.push('start'); return undefined; },
  };
  const defaultClient = { config: {} as { aadTokenCredential?: unknown; azureMonitorOpenTelemetryOptions?: unknown; enableAutoCollectPerformance?: boolean }, trackEvent(e: { name: string; properties?: Record<string, string> }) { events.push(e); } };
  return { calls, events, defaultClient, setup(cs: string) { calls.push(`setup(${cs === CONNECTION ? 'the connection string' : 'another string'})`); return chain; } };
}

function start(env: NodeJS.ProcessEnv, ai = fakeAppInsights(), identities: (string | undefined)[] = [], warnings: string[] = []) {
  forgetTelemetryClient();
  const started = startTelemetry(env, {
    loadAppInsights: () => ai,
    managedIdentity: (clientId) => {
      identities.push(clientId);
      return { fakeCredentialFor: clientId ?? 'system-assigned' };
    },
    warn: (m) => warnings.push(m),
  });
  return { started, ai, identities, warnings };
}

test('functions/index.ts imports the telemetry start-up before any other module', () => {
  const source = fs.readFileSync(path.join(REPO_ROOT, 'functions', 'index.ts'), 'utf8');
  const imports = [...source.matchAll(/^import\s+(?:[^'"]+from\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  assert.equal(imports[0], './telemetry-first');
  const first = fs.readFileSync(path.join(REPO_ROOT, 'functions', 'telemetry-first.ts'), 'utf8');
  assert.deepEqual([...first.matchAll(/^import\s+(?:[^'"]+from\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]), ['../shared/telemetry-setup']);
  // telemetry-setup itself loads nothing at the top level but types.
  const setup = fs.readFileSync(path.join(REPO_ROOT, 'shared', 'telemetry-setup.ts'), 'utf8');
  for (const m of setup.matchAll(/^import\s+(type\s+)?/gm)) assert.ok(m[1], 'shared/telemetry-setup.ts has only type imports at the top level');
});

test('loading the Functions entry starts Application Insights before any instrumented package is loaded', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtc-telemetry-'));
  const orderFile = path.join(dir, 'order.json');
  const preload = path.join(dir, 'preload.js');
  fs.writeFileSync(preload, `
const Module = require('node:module');
const fs = require('node:fs');
const order = [];
const chain = { setAutoCollectConsole() { return chain; }, setSendLiveMetrics() { return chain; }, start() { order.push('<ai.start>'); } };
const fake = { setup() { order.push('<ai.setup>'); return chain; }, defaultClient: { config: {}, trackEvent() {} } };
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'applicationinsights') { order.push(request); return fake; }
  if (!request.startsWith('.') && !request.startsWith('/') && !Module.isBuiltin(request)) {
    const pkg = request.startsWith('@') ? request.split('/').slice(0, 2).join('/') : request.split('/')[0];
    if (!order.includes(pkg)) order.push(pkg);
  }
  return load.apply(this, arguments);
};
process.on('exit', () => fs.writeFileSync(${JSON.stringify(orderFile)}, JSON.stringify(order)));
`);
  const r = spawnSync(process.execPath, ['--require', preload, '-e', `require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'functions', 'index.js'))})`], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${UAMI};Authorization=AAD` },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `loading the entry failed: ${r.stderr}`);
  const order = JSON.parse(fs.readFileSync(orderFile, 'utf8')) as string[];
  fs.rmSync(dir, { recursive: true, force: true });
  const startedAt = order.indexOf('<ai.start>');
  assert.ok(startedAt > 0, `Application Insights was started (load order: ${order.join(', ')})`);
  assert.deepEqual(order.slice(0, startedAt).filter((x) => !x.startsWith('<')), ['applicationinsights'],
    `only applicationinsights loads before it starts (load order: ${order.join(', ')})`);
  for (const pkg of ['@azure/functions', '@opentelemetry/api', '@azure/identity', '@azure/storage-queue', '@azure/storage-blob', '@azure/data-tables', '@azure/keyvault-secrets']) {
    assert.ok(order.indexOf(pkg) > startedAt, `${pkg} loads after Application Insights started (load order: ${order.join(', ')})`);
  }
});

test('with Authorization=AAD and a ClientId, ingestion authenticates with that user-assigned managed identity', () => {
  const { started, ai, identities } = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${UAMI};Authorization=AAD` });
  assert.equal(started, true);
  assert.deepEqual(identities, [UAMI]);
  assert.deepEqual(ai.defaultClient.config.aadTokenCredential, { fakeCredentialFor: UAMI });
  assert.deepEqual(ai.calls, ['setup(the connection string)', 'setAutoCollectConsole(false)', 'setSendLiveMetrics(false)', 'start']);
});

test('telemetry by design: no Azure SDK spans, no dependency per storage or metadata call, API and destination calls kept, no performance counters', () => {
  const { started, ai } = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION });
  assert.equal(started, true);
  assert.equal(ai.defaultClient.config.enableAutoCollectPerformance, false);
  const options = ai.defaultClient.config.azureMonitorOpenTelemetryOptions as ReturnType<typeof telemetryDesign>;
  assert.deepEqual(options, { ...TELEMETRY_DESIGN, samplingRatio: 0.25, tracesPerSecond: 0 });
  assert.equal(options.enableTraceBasedSamplingForLogs, false, 'log lines are never sampled with their trace');
  assert.equal(options.instrumentationOptions.azureSdk.enabled, false);
  const ignored = (hostname: string, port?: number) => options.instrumentationOptions.http.ignoreOutgoingRequestHook({ hostname, port: port ?? null });
  for (const host of ['mtcstore.table.core.windows.net', 'mtcstore.queue.core.windows.net', 'mtcstore.blob.core.windows.net', 'x.table.core.usgovcloudapi.net', '169.254.169.254']) assert.equal(ignored(host), true, host);
  assert.equal(ignored('127.0.0.1', 10002), true, 'Azurite');
  for (const host of ['graph.microsoft.com', 'login.microsoftonline.com', 'outlook.office365.com', 'siem.example.com', 'x.ods.opinsights.azure.com']) assert.equal(ignored(host), false, host);
  assert.equal(isQuietDependency('127.0.0.1', 8443), false, 'a local simulator or destination is a dependency');
});

test('MTC_TRACE_SAMPLING sets the share of traces kept (a fixed share by trace id, not the SDK\'s 5 a second); a bad value is named with its fix and the default applies', () => {
  const ratio = (env: NodeJS.ProcessEnv) => {
    const r = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, ...env });
    const o = r.ai.defaultClient.config.azureMonitorOpenTelemetryOptions as ReturnType<typeof telemetryDesign>;
    assert.equal(o.tracesPerSecond, 0, 'the rate-limited sampler is off');
    return { ratio: o.samplingRatio, warnings: r.warnings };
  };
  assert.deepEqual(ratio({}), { ratio: 0.25, warnings: [] });
  assert.deepEqual(ratio({ MTC_TRACE_SAMPLING: '1' }), { ratio: 1, warnings: [] });
  assert.deepEqual(ratio({ MTC_TRACE_SAMPLING: ' 0.05 ' }), { ratio: 0.05, warnings: [] });
  assert.deepEqual(ratio({ MTC_TRACE_SAMPLING: '0' }), { ratio: 0, warnings: [] });
  for (const bad of ['25%', '1.5', 'half', '-0.1']) {
    const r = ratio({ MTC_TRACE_SAMPLING: bad });
    assert.equal(r.ratio, 0.25, bad);
    assert.equal(r.warnings.length, 1, bad);
    assert.match(r.warnings[0]!, /MTC_TRACE_SAMPLING is ".*", but it must be a number from 0 to 1\. Fix: set MTC_TRACE_SAMPLING to a valid value \(for example 0\.1\)/, bad);
    assert.match(r.warnings[0]!, /sampled at the default 0\.25/);
  }
  forgetTelemetryClient();
});

test('with the real Application Insights SDK, MTC_TRACE_SAMPLING keeps that share of traces, each whole (its child spans share the decision)', () => {
  // In a child process: the SDK registers global providers and patches modules.
  const script = `
const path = require('node:path');
const root = ${JSON.stringify(REPO_ROOT)};
const { startTelemetry } = require(path.join(root, 'dist', 'shared', 'telemetry-setup.js'));
if (!startTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: ${JSON.stringify(CONNECTION)}, MTC_TRACE_SAMPLING: process.argv[1] }, { warn: () => {} })) process.exit(3);
const api = require(path.join(root, 'node_modules', '@opentelemetry', 'api'));
const tracer = api.trace.getTracer('sampling-test');
let kept = 0, split = 0;
for (let i = 0; i < 4000; i++) {
  tracer.startActiveSpan('mtc.plan', (root) => {
    const page = tracer.startSpan('mtc.page');
    const a = root.spanContext().traceFlags & api.TraceFlags.SAMPLED, b = page.spanContext().traceFlags & api.TraceFlags.SAMPLED;
    kept += a ? 1 : 0;
    split += a === b ? 0 : 1;
    page.end();
    root.end();
  });
}
process.stdout.write(JSON.stringify({ kept, split }));
process.exit(0);
`;
  const run = (ratio: string) => {
    const r = spawnSync(process.execPath, ['-e', script, ratio], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `the child failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { kept: number; split: number };
  };
  const quarter = run('');
  // 4000 traces at 0.25: 1000 expected, standard deviation 27.
  assert.ok(quarter.kept > 850 && quarter.kept < 1150, `default 0.25 kept ${quarter.kept} of 4000`);
  assert.equal(quarter.split, 0, 'a trace is kept or dropped whole');
  assert.deepEqual(run('1'), { kept: 4000, split: 0 });
  assert.deepEqual(run('0'), { kept: 0, split: 0 });
});

test('the credential set for Entra ingestion is a real ManagedIdentityCredential (loaded on first use, created without a network call)', () => {
  forgetTelemetryClient();
  const ai = fakeAppInsights();
  assert.equal(startTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `Authorization=AAD;ClientId=${UAMI}` }, { loadAppInsights: () => ai, warn: () => {} }), true);
  const credential = ai.defaultClient.config.aadTokenCredential;
  assert.ok(credential instanceof LazyManagedIdentityCredential);
  assert.equal(credential.clientId, UAMI);
  assert.ok(credential.credential() instanceof ManagedIdentityCredential);
  forgetTelemetryClient();
});

test('Authorization=AAD without a ClientId uses AZURE_CLIENT_ID, or the system-assigned identity', () => {
  assert.deepEqual(start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD', AZURE_CLIENT_ID: UAMI }).identities, [UAMI]);
  assert.deepEqual(start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'authorization=aad' }).identities, [undefined]);
});

test('without an authentication string no credential is set; without a connection string nothing starts', () => {
  const keyed = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, AZURE_CLIENT_ID: UAMI });
  assert.equal(keyed.started, true);
  assert.deepEqual(keyed.identities, []);
  assert.equal(keyed.ai.defaultClient.config.aadTokenCredential, undefined);
  const off = start({});
  assert.equal(off.started, false);
  assert.deepEqual(off.ai.calls, []);
  forgetTelemetryClient();
});

test('an unusable authentication string is reported with the setting and the fix, never with the connection string', () => {
  const wrong = telemetrySettingsFrom({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=Key' });
  assert.equal(wrong.settings?.entra, undefined);
  assert.match(wrong.problems[0]!, /APPLICATIONINSIGHTS_AUTHENTICATION_STRING must contain Authorization=AAD/);
  const badId = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=not-a-guid' });
  assert.deepEqual(badId.identities, [undefined], 'falls back to the system-assigned identity');
  assert.match(badId.warnings[0]!, /ClientId .* must be the GUID client id/);
  const noKey = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'IngestionEndpoint=https://example.invalid/' });
  assert.equal(noKey.started, false);
  assert.match(noKey.warnings[0]!, /APPLICATIONINSIGHTS_CONNECTION_STRING has no InstrumentationKey/);
  for (const w of [...wrong.problems, ...badId.warnings, ...noKey.warnings]) assert.ok(!w.includes('00000000-0000') && !w.includes('example.invalid'), w);
  forgetTelemetryClient();
});

test('health changes reach Application Insights as custom events through trackEvent once it is started', () => {
  const { ai } = start({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION });
  const log = new MemoryLogger();
  const telemetry = new OtelTelemetry((name, props) => emitCustomEvent(name, props, log));
  telemetry.event(EVENTS.health, { source: 'contoso', state: 'Error', previousState: 'Collecting', errorType: 'ThirdPartyConfig', code: 'Unauthorized', fix: undefined });
  assert.deepEqual(ai.events, [{ name: 'mtc.health', properties: { source: 'contoso', state: 'Error', previousState: 'Collecting', errorType: 'ThirdPartyConfig', code: 'Unauthorized' } }]);
  assert.equal(log.lines.length, 0);
  forgetTelemetryClient();
  telemetry.event(EVENTS.health, { source: 'contoso', state: 'Collecting' });
  assert.equal(ai.events.length, 1, 'not started: not sent');
  assert.equal(log.lines[0]?.message, 'event mtc.health');
});
