// The real Bicep CLI (restored from NuGet, scripts/bicep.ts) builds and lints every Bicep file under
// infra/ with 0 errors and 0 warnings, and both documented deploy paths compile:
//   azd:    infra/main.parameters.json with azd's ${VAR} / ${VAR=default} substitution
//   az CLI: infra/main.bicepparam through `bicep build-params` (what az runs for a .bicepparam)
// Each then goes through Azure's template engine (`bicep snapshot`) in the default and the
// locked-down settings. The CI log shows the build and lint summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  REPO_ROOT, at, bicepFor, buildTemplate, formatDiagnostics, infraFiles, ofType, parseDiagnostics, runBicep, single, snapshot,
} from './arm';
import { OFFICER_ID } from './settings';

test('bicep build compiles infra/main.bicep and every module with 0 errors and 0 warnings', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const files = infraFiles('.bicep');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtc-bicep-build-'));
  try {
    const run = runBicep(exe, ['build', '--pattern', 'infra/**/*.bicep', '--outdir', outdir]);
    const diagnostics = parseDiagnostics(`${run.stdout}\n${run.stderr}`);
    const built = files.filter((f) => fs.existsSync(path.join(outdir, path.relative('infra', f).replace(/\.bicep$/, '.json'))));
    const summary = `bicep build: ${built.length} of ${files.length} files compiled, ${diagnostics.filter((d) => d.level === 'Error').length} errors, ${diagnostics.filter((d) => d.level === 'Warning').length} warnings (${files.join(', ')})`;
    console.log(summary);
    t.diagnostic(summary);
    assert.equal(run.status, 0, `bicep build exited ${run.status}:\n${run.stderr}`);
    assert.deepEqual(diagnostics, [], formatDiagnostics(diagnostics));
    assert.deepEqual(built, files, 'a Bicep file produced no ARM JSON');
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});

test('bicep lint reports 0 errors and 0 warnings; every suppression names its rule and reason', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const run = runBicep(exe, ['lint', '--pattern', 'infra/**/*.bicep']);
  const diagnostics = parseDiagnostics(`${run.stdout}\n${run.stderr}`);
  const suppressions = infraFiles('.bicep').flatMap((f) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8').split('\n')
    .map((line, i) => ({ where: `${f}:${i + 1}`, line: line.trim() })).filter((l) => l.line.startsWith('#disable-')));
  const summary = `bicep lint: ${infraFiles('.bicep').length} files, ${diagnostics.filter((d) => d.level === 'Error').length} errors, ${diagnostics.filter((d) => d.level === 'Warning').length} warnings, ${suppressions.length} suppressed in place`;
  console.log(summary);
  t.diagnostic(summary);
  for (const s of suppressions) {
    assert.match(s.line, /^#disable-next-line [\w-]+ \/\/ \S.+/, `${s.where}: a suppression must name one rule and give the reason after //`);
  }
  assert.equal(run.status, 0, `bicep lint exited ${run.status}:\n${run.stderr}`);
  assert.deepEqual(diagnostics, [], formatDiagnostics(diagnostics));
});

test('a wrong enum value and an unknown property are reported with their line and rule', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtc-bicep-broken-'));
  try {
    const file = path.join(dir, 'broken.bicep');
    fs.writeFileSync(file, [
      "resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {",
      "  name: 'kv-broken'",
      "  location: 'westeurope'",
      '  properties: {',
      "    tenantId: subscription().tenantId",
      "    sku: { family: 'A', name: 'premiumPlus' }",
      '    enablePurgeProtectionX: true',
      '  }',
      '}',
      '',
    ].join('\n'));
    const run = runBicep(exe, ['build', file, '--stdout']);
    const diagnostics = parseDiagnostics(run.stderr);
    assert.ok(diagnostics.length > 0, `no diagnostics for a broken file:\n${run.stderr}`);
    // Type problems are warnings to the compiler; the build test above admits no warning at all.
    const found = diagnostics.map((d) => `${d.line} ${d.code}`);
    assert.ok(found.includes('6 BCP036'), `the invalid enum value on line 6 was not reported:\n${formatDiagnostics(diagnostics)}`);
    assert.ok(found.includes('7 BCP089'), `the unknown property on line 7 was not reported:\n${formatDiagnostics(diagnostics)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * azd's handling of main.parameters.json: `${VAR}` and `${VAR=default}` are replaced by the azd
 * environment's values as text, then a string value is converted to the type the template
 * declares for the parameter (bool, int), as azd does before it deploys.
 */
function azdParameters(env: Record<string, string>, types: Record<string, string>): Record<string, unknown> {
  const file = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: unknown }> };
  const out: Record<string, unknown> = {};
  for (const [name, { value }] of Object.entries(file.parameters)) {
    const text = typeof value === 'string'
      ? value.replace(/\$\{(\w+)(?:=([^}]*))?\}/g, (_m, v: string, def?: string) => env[v] ?? def ?? '')
      : value;
    const type = types[name]?.toLowerCase();
    out[name] = typeof text !== 'string' ? text
      : type === 'bool' ? (text === 'true' ? true : text === 'false' ? false : assert.fail(`${name}: "${text}" is not a bool`))
        : type === 'int' ? (/^-?\d+$/.test(text) ? Number(text) : assert.fail(`${name}: "${text}" is not an int`))
          : text;
  }
  return out;
}

test('azd: main.parameters.json sets only declared parameters and every required one, and deploys in both settings', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const template = buildTemplate(exe, 'infra/main.bicep');
  const declared = template.parameters ?? {};
  const types = Object.fromEntries(Object.entries(declared).map(([k, v]) => [k, v.type]));
  const file = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: unknown }> };
  for (const name of Object.keys(file.parameters)) assert.ok(name in declared, `main.parameters.json sets ${name}, which main.bicep does not declare`);
  for (const [name, def] of Object.entries(declared)) {
    if (!('defaultValue' in def)) assert.ok(name in file.parameters, `main.bicep param ${name} has no default and is not set in main.parameters.json`);
  }
  assert.equal(file.parameters.environmentName?.value, '${AZURE_ENV_NAME}');
  assert.equal(file.parameters.location?.value, '${AZURE_LOCATION}');

  // What `azd up` passes with only the variables azd itself sets.
  const plain = azdParameters({ AZURE_ENV_NAME: 'ci', AZURE_LOCATION: 'westeurope', AZURE_PRINCIPAL_ID: OFFICER_ID }, types);
  const defaultSnap = snapshot(exe, plain);
  assert.equal(at(single(defaultSnap, 'Microsoft.Storage/storageAccounts'), 'properties.publicNetworkAccess'), 'Enabled');
  assert.equal(ofType(defaultSnap, 'Microsoft.Authorization/roleAssignments').filter((a) => at(a, 'properties.principalId') === OFFICER_ID).length, 1, 'azd passes the signed-in user as secrets officer');

  // The locked-down options through azd environment variables.
  const locked = azdParameters({
    AZURE_ENV_NAME: 'ci', AZURE_LOCATION: 'westeurope', MTC_NETWORK_ISOLATION: 'true', MTC_ENTRA_AUTH_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
    MTC_EXPECTED_TENANT_COUNT: '200', MTC_DEPLOY_LOGS_INGESTION: 'true', MTC_STORAGE_LOGS_COLLECTOR_REQUESTS: 'true',
  }, types);
  const lockedSnap = snapshot(exe, locked);
  assert.equal(at(single(lockedSnap, 'Microsoft.Storage/storageAccounts'), 'properties.publicNetworkAccess'), 'Disabled');
  assert.equal(ofType(lockedSnap, 'Microsoft.Network/privateEndpoints').length, 4);
  assert.equal(ofType(lockedSnap, 'Microsoft.Web/sites/config').filter((c) => c.name.endsWith('/authsettingsV2')).length, 1);
  assert.equal(at(single(lockedSnap, 'Microsoft.Web/sites'), 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount'), 67);
  // The logs-ingestion rule only: MTC_STORAGE_LOGS_COLLECTOR_REQUESTS=true keeps every storage log record (no workspace transformation).
  assert.deepEqual(ofType(lockedSnap, 'Microsoft.Insights/dataCollectionRules').map((r) => r.kind), ['Direct']);
  assert.deepEqual(ofType(defaultSnap, 'Microsoft.Insights/dataCollectionRules').map((r) => r.kind), ['WorkspaceTransforms'], 'by default the storage log filter');
});

function buildParams(exe: string, env: Record<string, string>): { status: number; stderr: string; values?: Record<string, unknown> } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AZURE_|MTC_)/.test(k)));
  const run = runBicep(exe, ['build-params', 'infra/main.bicepparam', '--stdout'], { ...clean, ...env });
  if (run.status !== 0) return { status: run.status, stderr: run.stderr };
  const built = JSON.parse(run.stdout) as { parametersJson: string };
  const params = (JSON.parse(built.parametersJson) as { parameters: Record<string, { value: unknown }> }).parameters;
  return { status: 0, stderr: run.stderr, values: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.value])) };
}

test('az CLI: infra/main.bicepparam compiles with bicep build-params from environment variables and deploys in both settings', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const missing = buildParams(exe, {});
  assert.notEqual(missing.status, 0, 'build-params succeeded without AZURE_ENV_NAME');
  assert.match(missing.stderr, /AZURE_ENV_NAME/, 'the error must name the missing variable');

  const plain = buildParams(exe, { AZURE_ENV_NAME: 'ci' });
  assert.equal(plain.status, 0, plain.stderr);
  assert.deepEqual(parseDiagnostics(plain.stderr), [], formatDiagnostics(parseDiagnostics(plain.stderr)));
  assert.equal(plain.values!.expectedTenantCount, 24);
  assert.equal(plain.values!.networkIsolation, false);
  const defaultSnap = snapshot(exe, plain.values!);
  assert.equal(at(single(defaultSnap, 'Microsoft.KeyVault/vaults'), 'properties.publicNetworkAccess'), 'Enabled');

  const config = Buffer.from(JSON.stringify({ sources: [], destinations: [] })).toString('base64');
  const locked = buildParams(exe, { AZURE_ENV_NAME: 'ci', MTC_CONFIG_BASE64: config, MTC_NETWORK_ISOLATION: 'true', MTC_ENTRA_AUTH_CLIENT_ID: '11111111-2222-3333-4444-555555555555', AZURE_PRINCIPAL_ID: OFFICER_ID });
  assert.equal(locked.status, 0, locked.stderr);
  assert.equal(locked.values!.networkIsolation, true);
  const lockedSnap = snapshot(exe, locked.values!);
  assert.equal(at(single(lockedSnap, 'Microsoft.KeyVault/vaults'), 'properties.publicNetworkAccess'), 'Disabled');
  assert.equal(ofType(lockedSnap, 'Microsoft.Web/sites/config').filter((c) => c.name.endsWith('/authsettingsV2')).length, 1);
  assert.equal(locked.values!.mtcConfigBase64, config, 'the base64 configuration reaches mtcConfigBase64');
  // A secure value stays unknown to the snapshot; the app setting is built from it.
  const settings = ofType(lockedSnap, 'Microsoft.Web/sites/config').find((c) => c.name.endsWith('/appsettings'))!.properties as Record<string, string>;
  assert.match(settings.MTC_CONFIG!, /parameters\('mtcConfig'\)/);
});

test('the README and docs/onboarding.md deploy with the parameters files the tests compile', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const onboarding = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'onboarding.md'), 'utf8');
  for (const [name, text] of [['README.md', readme], ['docs/onboarding.md', onboarding]] as const) {
    const azCommands = [...text.matchAll(/az deployment group create[^\n]*(?:\\\n[^\n]*)*/g)].map((m) => m[0]);
    assert.ok(azCommands.length > 0, `${name} has no az deployment command`);
    for (const cmd of azCommands) {
      assert.doesNotMatch(cmd, /main\.parameters\.json/, `${name}: az cannot read azd's placeholders in main.parameters.json: ${cmd}`);
    }
  }
  assert.match(readme, /az deployment group create -g \S+ -f infra\/main\.bicep -p infra\/main\.bicepparam/);
});
