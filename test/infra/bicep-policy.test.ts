import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Node } from 'web-tree-sitter';
import { APP_SETTINGS } from '../../shared/settings';
import {
  REPO_ROOT,
  bicepFiles,
  declarations,
  descendants,
  objectProperties,
  parseBicepFile,
  propertyAt,
  propertyKey,
  resources,
  stringValue,
  type ParsedBicep,
  type ResourceDeclaration,
} from './bicep';

const parsed = new Map<string, ParsedBicep>();

before(async () => {
  for (const file of bicepFiles()) parsed.set(file, await parseBicepFile(file));
});

function file(rel: string): ParsedBicep {
  const p = parsed.get(rel);
  assert.ok(p, `${rel} was not parsed (missing?)`);
  return p;
}

function resourceOfType(rel: string, typePrefix: string, opts: { existing?: boolean } = {}): ResourceDeclaration {
  const found = resources(file(rel).root).filter((r) => r.type.startsWith(`${typePrefix}@`) && (opts.existing === undefined || r.existing === opts.existing));
  assert.equal(found.length, 1, `${rel}: expected exactly one ${typePrefix} resource${opts.existing === false ? ' (not existing)' : ''}, found ${found.length}`);
  return found[0]!;
}

function literal(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  return node.type === 'string' ? stringValue(node) : node.text;
}

test('the storage account disables shared keys and public blob access and requires TLS 1.2', () => {
  const storage = resourceOfType('infra/modules/storage.bicep', 'Microsoft.Storage/storageAccounts', { existing: false });
  assert.equal(literal(propertyAt(storage.body, 'properties.allowSharedKeyAccess')), 'false');
  assert.equal(literal(propertyAt(storage.body, 'properties.allowBlobPublicAccess')), 'false');
  assert.equal(literal(propertyAt(storage.body, 'properties.minimumTlsVersion')), 'TLS1_2');
});

test('the page queue, its poison queue and the state tables are created up front', () => {
  const main = file('infra/main.bicep').text;
  assert.match(main, /var pageQueueName = 'page-jobs'/);
  assert.match(main, /queueNames: \[pageQueueName, '\$\{pageQueueName\}-poison'\]/);
  assert.match(main, /var tablePrefix = 'mtc'/);
  for (const table of ['cursors', 'slices', 'runs', 'health', 'budget']) {
    assert.ok(main.includes(`'\${tablePrefix}${table}'`), `table mtc${table} is not created in infra/main.bicep`);
  }
  const types = resources(file('infra/modules/storage.bicep').root).map((r) => r.type.split('@')[0]);
  assert.ok(types.includes('Microsoft.Storage/storageAccounts/queueServices/queues'));
  assert.ok(types.includes('Microsoft.Storage/storageAccounts/tableServices/tables'));
  assert.ok(types.includes('Microsoft.Storage/storageAccounts/blobServices/containers'));
});

test('the Key Vault uses RBAC with soft delete, and purge protection defaults to on', () => {
  const vault = resourceOfType('infra/modules/keyvault.bicep', 'Microsoft.KeyVault/vaults', { existing: false });
  assert.equal(literal(propertyAt(vault.body, 'properties.enableRbacAuthorization')), 'true');
  assert.equal(literal(propertyAt(vault.body, 'properties.enableSoftDelete')), 'true');
  assert.ok(propertyAt(vault.body, 'properties.enablePurgeProtection'), 'enablePurgeProtection is not set');
  assert.equal(propertyAt(vault.body, 'properties.accessPolicies'), undefined, 'access policies found on an RBAC vault');
  const param = declarations(file('infra/main.bicep').root).find((d) => d.name === 'keyVaultPurgeProtection');
  assert.equal(param?.value?.text, 'true', 'main.bicep keyVaultPurgeProtection must default to true');
});

test('Application Insights is workspace-based and accepts Entra-authenticated telemetry only', () => {
  const ai = resourceOfType('infra/modules/monitoring.bicep', 'Microsoft.Insights/components', { existing: false });
  assert.equal(literal(propertyAt(ai.body, 'properties.DisableLocalAuth')), 'true');
  assert.ok(propertyAt(ai.body, 'properties.WorkspaceResourceId'), 'App Insights is not workspace-based');
});

test('the function app runs on Flex Consumption (FC1, Linux), Node 22, as the user-assigned identity', () => {
  const rel = 'infra/modules/functionapp.bicep';
  const plan = resourceOfType(rel, 'Microsoft.Web/serverfarms');
  assert.equal(literal(propertyAt(plan.body, 'sku.name')), 'FC1');
  assert.equal(literal(propertyAt(plan.body, 'sku.tier')), 'FlexConsumption');
  assert.equal(literal(propertyAt(plan.body, 'properties.reserved')), 'true');
  const site = resourceOfType(rel, 'Microsoft.Web/sites');
  assert.equal(literal(propertyAt(site.body, 'kind')), 'functionapp,linux');
  assert.equal(literal(propertyAt(site.body, 'identity.type')), 'UserAssigned');
  assert.equal(literal(propertyAt(site.body, 'properties.functionAppConfig.runtime.name')), 'node');
  assert.equal(literal(propertyAt(site.body, 'properties.functionAppConfig.runtime.version')), '22');
  assert.equal(literal(propertyAt(site.body, 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount')), 'maximumInstanceCount');
  assert.equal(literal(propertyAt(site.body, 'properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB')), 'instanceMemoryMB');
  assert.equal(literal(propertyAt(site.body, 'properties.functionAppConfig.deployment.storage.authentication.type')), 'UserAssignedIdentity');
  assert.equal(literal(propertyAt(site.body, 'properties.keyVaultReferenceIdentity')), 'identity.id');
  assert.equal(literal(propertyAt(site.body, 'properties.httpsOnly')), 'true');
});

test('the scale-out cap is a parameter whose default is derived from the tenant count', () => {
  const main = declarations(file('infra/main.bicep').root);
  const cap = main.find((d) => d.kind === 'param' && d.name === 'maximumInstanceCount');
  assert.ok(cap, 'param maximumInstanceCount missing');
  assert.match(cap.value?.text ?? '', /expectedTenantCount/, 'the default of maximumInstanceCount must be derived from expectedTenantCount');
  assert.ok(cap.decorators.includes('minValue(1)') && cap.decorators.includes('maxValue(1000)'), `decorators: ${cap.decorators.join(', ')}`);
  const memory = main.find((d) => d.kind === 'param' && d.name === 'instanceMemoryMB');
  assert.ok(memory, 'param instanceMemoryMB missing');
});

const ROLES: { role: string; id: string; scopeType: string }[] = [
  { role: 'Storage Blob Data Owner', id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', scopeType: 'Microsoft.Storage/storageAccounts' },
  { role: 'Storage Queue Data Contributor', id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88', scopeType: 'Microsoft.Storage/storageAccounts' },
  { role: 'Storage Table Data Contributor', id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', scopeType: 'Microsoft.Storage/storageAccounts' },
  { role: 'Key Vault Secrets User', id: '4633458b-17de-408a-b874-0445c86b69e6', scopeType: 'Microsoft.KeyVault/vaults' },
  { role: 'Monitoring Metrics Publisher', id: '3913510d-42f4-4e42-8a64-420c390055eb', scopeType: 'Microsoft.Insights/components' },
];

test('each role the app identity needs is assigned once, scoped to its own resource', () => {
  const rel = 'infra/modules/rbac.bicep';
  const root = file(rel).root;
  const all = resources(root);
  const symbolTypes = new Map(all.map((r) => [r.symbol, r.type.split('@')[0]!]));
  // role key in the `roles` variable -> role definition id
  const rolesVar = declarations(root).find((d) => d.kind === 'var' && d.name === 'roles');
  assert.ok(rolesVar?.value, 'var roles missing in rbac.bicep');
  const roleIds = new Map([...objectProperties(rolesVar.value)].map(([k, v]) => [k, stringValue(v)!]));
  const assignments = all.filter((r) => r.type.startsWith('Microsoft.Authorization/roleAssignments@'));
  for (const { role, id, scopeType } of ROLES) {
    const matching = assignments.filter((a) => {
      const def = propertyAt(a.body, 'properties.roleDefinitionId')?.text ?? '';
      const key = /roles\.(\w+)/.exec(def)?.[1];
      return (key && roleIds.get(key) === id) || def.includes(id);
    });
    assert.equal(matching.length, 1, `${role} (${id}): expected one assignment, found ${matching.length}`);
    const assignment = matching[0]!;
    const scope = propertyAt(assignment.body, 'scope');
    assert.ok(scope, `${role} has no scope: it would apply to the whole resource group`);
    assert.equal(symbolTypes.get(scope.text), scopeType, `${role} is scoped to ${scope.text}, expected a ${scopeType}`);
    assert.equal(literal(propertyAt(assignment.body, 'properties.principalId')), 'principalId', `${role} must be granted to the app identity`);
    assert.equal(literal(propertyAt(assignment.body, 'properties.principalType')), 'ServicePrincipal');
  }
  for (const a of assignments) {
    assert.ok(propertyAt(a.body, 'scope'), `role assignment ${a.symbol} has no scope (resource-group wide)`);
  }
  // No broad roles.
  for (const broad of ['8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'b24988ac-6180-42a0-ab88-20f7382dd24c', '17d1049b-9a84-46fb-8f53-869881c3d3ab']) {
    assert.ok(!file(rel).text.includes(broad), `rbac.bicep grants a broad role (${broad})`);
  }
});

const SECRET_WORDS = /(key|secret|password|connectionstring|token|credential|sas)/i;
/** A parameter whose name ends like a secret (`apiKey`, `clientSecret`, `hecToken`), not `secretsOfficerPrincipalId`. */
const SECRET_PARAM_NAME = /(key|secret|password|token|connectionstring|credentials?|sas)$/i;

test('no output exposes a secret, a key or a connection string', () => {
  for (const rel of bicepFiles()) {
    const { root } = file(rel);
    const secureParams = new Set(declarations(root).filter((d) => d.kind === 'param' && d.decorators.includes('secure()')).map((d) => d.name));
    for (const out of declarations(root).filter((d) => d.kind === 'output')) {
      const value = out.value?.text ?? '';
      const nameOk = !SECRET_WORDS.test(out.name) || /^AZURE_KEY_VAULT_(NAME|URI)$/.test(out.name);
      assert.ok(nameOk, `${rel}: output ${out.name} has a secret-looking name`);
      assert.doesNotMatch(value, /listKeys|listSecrets|listCredentials|ConnectionString|InstrumentationKey|primaryKey|secondaryKey/i, `${rel}: output ${out.name} exposes a secret`);
      for (const p of secureParams) {
        assert.ok(!new RegExp(`\\b${p}\\b`).test(value), `${rel}: output ${out.name} returns the @secure() parameter ${p}`);
      }
    }
    assert.doesNotMatch(file(rel).text, /listKeys\(|AccountKey=/, `${rel} uses storage account keys`);
  }
});

test('parameters that can hold the configuration document are @secure()', () => {
  for (const [rel, names] of [['infra/main.bicep', ['mtcConfig', 'mtcConfigBase64']], ['infra/modules/functionapp.bicep', ['mtcConfig']]] as const) {
    const params = declarations(file(rel).root).filter((d) => d.kind === 'param');
    for (const name of names) {
      const param = params.find((d) => d.name === name);
      assert.ok(param, `${rel}: param ${name} missing`);
      assert.ok(param.decorators.includes('secure()'), `${rel}: param ${name} must be @secure()`);
    }
    for (const param of params) {
      if (SECRET_PARAM_NAME.test(param.name)) {
        assert.ok(param.decorators.includes('secure()'), `${rel}: param ${param.name} looks secret but is not @secure()`);
      }
    }
  }
});

/** Keys of the object literals that make up the site's appsettings (vars unioned into it). */
function appSettingNames(): Set<string> {
  const rel = 'infra/modules/functionapp.bicep';
  const { root } = file(rel);
  const config = resources(root).find((r) => r.type === 'config' && stringValue(objectProperties(r.body).get('name')) === 'appsettings');
  assert.ok(config, `${rel}: no appsettings config resource`);
  const props = propertyAt(config.body, 'properties');
  assert.ok(props, `${rel}: appsettings has no properties`);
  const vars = new Map(declarations(root).filter((d) => d.kind === 'var' && d.value).map((d) => [d.name, d.value!]));
  const names = new Set<string>();
  const collect = (node: Node): void => {
    if (node.type === 'object') {
      for (const prop of node.namedChildren) if (prop.type === 'object_property') names.add(propertyKey(prop));
      return;
    }
    for (const id of descendants(node, 'identifier')) {
      const v = vars.get(id.text);
      if (v?.type === 'object') collect(v);
    }
    if (node.type === 'identifier') {
      const v = vars.get(node.text);
      if (v?.type === 'object') collect(v);
    }
  };
  collect(props);
  return names;
}

test('every app setting shared/settings.ts marks requiredInAzure is set by the Bicep', () => {
  const names = appSettingNames();
  const required = APP_SETTINGS.filter((s) => s.requiredInAzure).map((s) => s.name);
  assert.ok(required.length > 0, 'shared/settings.ts declares no requiredInAzure setting');
  const missing = required.filter((n) => !names.has(n));
  assert.deepEqual(missing, [], `infra/modules/functionapp.bicep does not set: ${missing.join(', ')}`);
});

test('every app setting the Bicep sets for the collector is declared in shared/settings.ts or is a platform setting', () => {
  const declared = new Set(APP_SETTINGS.map((s) => s.name));
  const platform = /^(AzureWebJobsStorage__\w+|AZURE_TOKEN_CREDENTIALS)$/;
  const unknown = [...appSettingNames()].filter((n) => !declared.has(n) && !platform.test(n));
  assert.deepEqual(unknown, [], `set by the Bicep but not declared in shared/settings.ts: ${unknown.join(', ')}`);
});

test('identity-based storage connections use the managed identity and the account endpoints', () => {
  const text = file('infra/modules/functionapp.bicep').text;
  for (const prefix of ['AzureWebJobsStorage', 'JobsStorage']) {
    assert.match(text, new RegExp(`${prefix}__credential: 'managedidentity'`));
    assert.match(text, new RegExp(`${prefix}__clientId: clientId`));
    for (const service of ['blob', 'queue', 'table']) {
      assert.match(text, new RegExp(`${prefix}__${service}ServiceUri: storage\\.properties\\.primaryEndpoints\\.${service}`));
    }
  }
  assert.match(text, /APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=\$\{clientId\};Authorization=AAD'/);
  assert.doesNotMatch(text, /core\.windows\.net/, 'hard-coded storage suffix: use primaryEndpoints or environment().suffixes.storage');
  const runtimeSettings = [...appSettingNames()].filter((n) => /^(FUNCTIONS_WORKER_RUNTIME|FUNCTIONS_EXTENSION_VERSION|WEBSITE_RUN_FROM_PACKAGE|WEBSITE_NODE_DEFAULT_VERSION|WEBSITE_CONTENTAZUREFILECONNECTIONSTRING|AzureWebJobsStorage)$/.test(n));
  assert.deepEqual(runtimeSettings, [], 'Flex takes runtime settings from functionAppConfig, and AzureWebJobsStorage must be identity-based');
});

test('the alert rules and the workbook query exactly the telemetry names documented in docs/operations.md', () => {
  const alerts = file('infra/modules/alerts.bicep').text;
  const workbook = file('infra/modules/workbook.bicep').text;
  const ops = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  for (const name of ['mtc.slices.parked', 'mtc.source.lag_seconds', 'mtc.health', 'mtc.api.requests']) {
    assert.ok(alerts.includes(`name == "${name}"`), `alerts.bicep does not query ${name}`);
    assert.ok(ops.includes(`\`${name}\``), `docs/operations.md does not document ${name}`);
  }
  assert.match(alerts, /customDimensions\.errorType\) == "ThirdPartyConfig"/);
  assert.match(alerts, /customDimensions\.status\) == "429"/);
  const used = new Set([...`${alerts}\n${workbook}`.matchAll(/name == "(mtc\.[\w.]+)"/g)].map((m) => m[1]!));
  for (const name of used) assert.ok(ops.includes(`\`${name}\``), `${name} is queried by infra/ but not documented in docs/operations.md`);
  const rules = resources(file('infra/modules/alerts.bicep').root).filter((r) => r.type.startsWith('Microsoft.Insights/scheduledQueryRules@'));
  assert.equal(rules.length, 1, 'alerts are declared as one scheduledQueryRules loop');
  assert.match(workbook, /Microsoft\.Insights\/workbooks@/);
});

test('main.parameters.json sets only declared parameters and every required one', () => {
  const params = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: unknown }> };
  const declared = declarations(file('infra/main.bicep').root).filter((d) => d.kind === 'param');
  const declaredNames = new Set(declared.map((d) => d.name));
  for (const name of Object.keys(params.parameters)) assert.ok(declaredNames.has(name), `main.parameters.json sets ${name}, which main.bicep does not declare`);
  for (const d of declared.filter((p) => !p.value)) assert.ok(d.name in params.parameters, `main.bicep param ${d.name} has no default and is not set in main.parameters.json`);
  assert.equal(params.parameters.environmentName?.value, '${AZURE_ENV_NAME}');
  assert.equal(params.parameters.location?.value, '${AZURE_LOCATION}');
});

test('azure.yaml deploys the collector service as a TypeScript function app from the repository root', () => {
  const yaml = fs.readFileSync(path.join(REPO_ROOT, 'azure.yaml'), 'utf8');
  assert.match(yaml, /^services:\s*\n\s+collector:\s*\n/m);
  assert.match(yaml, /^\s+project: \.\s*$/m);
  assert.match(yaml, /^\s+language: ts\s*$/m);
  assert.match(yaml, /^\s+host: function\s*$/m);
  const funcignore = fs.readFileSync(path.join(REPO_ROOT, '.funcignore'), 'utf8').split('\n').map((l) => l.trim());
  const remoteBuild = /^\s+remoteBuild: (true|false)\s*$/m.exec(yaml)?.[1];
  // azd requires remoteBuild to agree with .funcignore: a remote build when node_modules is excluded.
  assert.equal(remoteBuild === 'true', funcignore.includes('node_modules') || funcignore.includes('node_modules/'), 'azure.yaml remoteBuild and .funcignore disagree about node_modules');
  for (const kept of ['dist', 'host.json', 'package.json']) assert.ok(!funcignore.includes(kept), `.funcignore excludes ${kept}, which the app needs`);
});

test('Key Vault reference app settings resolve with the user-assigned identity and cannot replace the collector settings', () => {
  const text = file('infra/modules/functionapp.bicep').text;
  assert.match(text, /'@Microsoft\.KeyVault\(VaultName=\$\{keyVaultName\};SecretName=\$\{entry\.value\}\)'/);
  // union(): later objects win, so the references come first.
  assert.match(text, /properties: union\(keyVaultReferences, storageConnection, collectorSettings\)/);
  const site = resourceOfType('infra/modules/functionapp.bicep', 'Microsoft.Web/sites');
  assert.equal(literal(propertyAt(site.body, 'properties.keyVaultReferenceIdentity')), 'identity.id');
});
