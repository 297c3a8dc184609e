import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bicepFiles, formatProblems, parseBicep, parseBicepFile } from './bicep';

test('infra/ holds main.bicep and its modules', () => {
  const files = bicepFiles();
  assert.ok(files.includes('infra/main.bicep'), `infra/main.bicep missing; found ${files.join(', ')}`);
  for (const module of ['identity', 'monitoring', 'storage', 'keyvault', 'rbac', 'functionapp', 'alerts', 'workbook']) {
    assert.ok(files.includes(`infra/modules/${module}.bicep`), `infra/modules/${module}.bicep missing`);
  }
});

test('every .bicep file under infra/ parses without a syntax error', async () => {
  for (const file of bicepFiles()) {
    const parsed = await parseBicepFile(file);
    assert.equal(parsed.problems.length, 0, `syntax errors:\n${formatProblems(parsed)}`);
  }
});

test('a broken Bicep snippet is reported with its line and column', async () => {
  const broken = [
    "param location string = 'westeurope'",
    '',
    "resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {",
    '  name: ',
    '  location: location',
    '',
  ].join('\n');
  const parsed = await parseBicep(broken, 'broken.bicep');
  assert.ok(parsed.problems.length > 0, 'the syntax gate accepted a resource with a missing value and an unclosed brace');
  const first = parsed.problems[0]!;
  assert.ok(first.line >= 3 && first.line <= 6, `error reported on line ${first.line}, expected inside the broken resource (lines 3-6)`);
  assert.ok(first.column >= 1);
  assert.match(formatProblems(parsed), /^broken\.bicep:\d+:\d+ /m);
});

test('a module-referencing main file with modern syntax (lambdas, user functions, safe access) parses', async () => {
  const modern = [
    "func tile(name string) object => { name: name }",
    "var settings = toObject(items({ a: 'x' }), e => e.key, e => '@Microsoft.KeyVault(SecretName=${e.value})')",
    "var id = cond ? res.?id : null",
    "module m 'modules/x.bicep' = { name: 'm', params: { a: tile('b') } }",
    '',
  ].join('\n');
  const parsed = await parseBicep(modern, 'modern.bicep');
  assert.equal(parsed.problems.length, 0, formatProblems(parsed));
});
