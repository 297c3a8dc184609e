// Security and wiring properties of what Azure receives: the resources `bicep snapshot` predicts
// for infra/main.bicep (Azure's template engine over the compiled ARM JSON), in the default and
// the locked-down settings (test/infra/settings.ts), and the compiled templates themselves.
import { HTTP_ROUTES } from '../../shared/http-api';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { APP_SETTINGS } from '../../shared/settings';
import {
  REPO_ROOT, SNAPSHOT_SCOPE, at, bicepFor, buildTemplate, declarations, infraFiles, ofType, redeclared, scopeOf, single, snapshot,
  type ArmResource, type Snapshot,
} from './arm';
import { CALLER_CLIENT_ID, DEFAULT, ENTRA_CLIENT_ID, LOCKED_DOWN, NO_DIAGNOSTICS, OFFICER_ID } from './settings';

type Setting = 'default' | 'locked-down';
const SETTINGS: Record<Setting, Record<string, unknown>> = { default: DEFAULT, 'locked-down': LOCKED_DOWN };

/** Runs `check` on the snapshot of each setting (skips without the Bicep CLI). */
function inBothSettings(t: TestContext, check: (snap: Snapshot, setting: Setting) => void): void {
  const exe = bicepFor(t);
  if (!exe) return;
  for (const [setting, params] of Object.entries(SETTINGS) as [Setting, Record<string, unknown>][]) {
    check(snapshot(exe, params), setting);
  }
}

test('the storage account takes Entra ID only over TLS 1.2, and public network access is off when isolated', (t) => {
  inBothSettings(t, (snap, setting) => {
    const storage = single(snap, 'Microsoft.Storage/storageAccounts');
    assert.equal(at(storage, 'properties.allowSharedKeyAccess'), false, setting);
    assert.equal(at(storage, 'properties.allowBlobPublicAccess'), false, setting);
    assert.equal(at(storage, 'properties.defaultToOAuthAuthentication'), true, setting);
    assert.equal(at(storage, 'properties.minimumTlsVersion'), 'TLS1_2', setting);
    assert.equal(at(storage, 'properties.supportsHttpsTrafficOnly'), true, setting);
    const isolated = setting === 'locked-down';
    assert.equal(at(storage, 'properties.publicNetworkAccess'), isolated ? 'Disabled' : 'Enabled', setting);
    assert.equal(at(storage, 'properties.networkAcls.defaultAction'), isolated ? 'Deny' : 'Allow', setting);
  });
});

test('the page queue, its poison queue, the state tables and every blob container are created up front', (t) => {
  inBothSettings(t, (snap) => {
    const leaf = (r: ArmResource): string => r.name.split('/').pop()!;
    assert.deepEqual(ofType(snap, 'Microsoft.Storage/storageAccounts/queueServices/queues').map(leaf).sort(), ['page-jobs', 'page-jobs-poison', 'page-jobs-poison-poison']);
    assert.deepEqual(ofType(snap, 'Microsoft.Storage/storageAccounts/tableServices/tables').map(leaf).sort(),
      ['mtcbacklog', 'mtcbudget', 'mtccursors', 'mtcdetails', 'mtchealth', 'mtcpages', 'mtcruns', 'mtcseen', 'mtcslices']);
    const containers = ofType(snap, 'Microsoft.Storage/storageAccounts/blobServices/containers');
    for (const c of containers) assert.equal(at(c, 'properties.publicAccess'), 'None', c.name);
    const names = containers.map(leaf);
    for (const name of ['azure-webjobs-hosts', 'azure-webjobs-secrets', 'mtcspill', 'mtcseen', 'mtcbacklog', 'mtcdetails']) assert.ok(names.includes(name), `container ${name} missing`);
    assert.ok(names.some((n) => n.startsWith('app-package-')), 'no deployment package container');
  });
});

test('the Key Vault uses RBAC, soft delete and purge protection in every setting, with no parameter to turn purge protection off', (t) => {
  inBothSettings(t, (snap, setting) => {
    const vault = single(snap, 'Microsoft.KeyVault/vaults');
    assert.equal(at(vault, 'properties.enableRbacAuthorization'), true, setting);
    assert.equal(at(vault, 'properties.enableSoftDelete'), true, setting);
    assert.equal(at(vault, 'properties.enablePurgeProtection'), true, setting);
    assert.equal(at(vault, 'properties.accessPolicies'), undefined, `${setting}: access policies on an RBAC vault`);
    assert.equal(at(vault, 'properties.enabledForTemplateDeployment'), false, setting);
    const isolated = setting === 'locked-down';
    assert.equal(at(vault, 'properties.publicNetworkAccess'), isolated ? 'Disabled' : 'Enabled', setting);
    assert.equal(at(vault, 'properties.networkAcls.defaultAction'), isolated ? 'Deny' : 'Allow', setting);
  });
  const exe = bicepFor(t);
  if (!exe) return;
  const params = Object.keys(buildTemplate(exe, 'infra/main.bicep').parameters ?? {});
  assert.deepEqual(params.filter((p) => /purge/i.test(p)), [], 'main.bicep must not offer a parameter for purge protection');
});

test('Log Analytics refuses shared-key ingestion and Application Insights accepts Entra-authenticated telemetry only', (t) => {
  inBothSettings(t, (snap, setting) => {
    const workspace = single(snap, 'Microsoft.OperationalInsights/workspaces');
    assert.equal(at(workspace, 'properties.features.disableLocalAuth'), true, setting);
    const ai = single(snap, 'Microsoft.Insights/components');
    assert.equal(at(ai, 'properties.DisableLocalAuth'), true, setting);
    assert.equal(at(ai, 'properties.WorkspaceResourceId'), workspace.id, `${setting}: App Insights is not based on the workspace`);
  });
});

test('the function app runs on Flex Consumption (FC1, Linux), Node 22, as the user-assigned identity', (t) => {
  inBothSettings(t, (snap, setting) => {
    const plan = single(snap, 'Microsoft.Web/serverfarms');
    assert.deepEqual(plan.sku, { name: 'FC1', tier: 'FlexConsumption' });
    assert.equal(at(plan, 'properties.reserved'), true);
    const site = single(snap, 'Microsoft.Web/sites');
    const identity = single(snap, 'Microsoft.ManagedIdentity/userAssignedIdentities');
    assert.equal(site.kind, 'functionapp,linux');
    assert.equal(at(site, 'properties.serverFarmId'), plan.id);
    assert.equal(at(site, 'identity.type'), 'UserAssigned');
    assert.deepEqual(Object.keys(at(site, 'identity.userAssignedIdentities') as object), [identity.id]);
    assert.equal(at(site, 'properties.keyVaultReferenceIdentity'), identity.id);
    assert.equal(at(site, 'properties.httpsOnly'), true);
    assert.equal(at(site, 'properties.siteConfig.minTlsVersion'), '1.2');
    assert.equal(at(site, 'properties.siteConfig.ftpsState'), 'Disabled');
    assert.deepEqual(at(site, 'properties.functionAppConfig.runtime'), { name: 'node', version: '22' });
    // The default cap derives from expectedTenantCount (24 tenants -> ceil(24 / 3) = 8, main.bicep).
    assert.deepEqual(at(site, 'properties.functionAppConfig.scaleAndConcurrency'), { maximumInstanceCount: 8, instanceMemoryMB: 2048 }, setting);
    const deployment = at(site, 'properties.functionAppConfig.deployment.storage') as Record<string, unknown>;
    assert.equal(deployment.type, 'blobContainer');
    assert.deepEqual(deployment.authentication, { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id });
    for (const policy of ofType(snap, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies')) {
      assert.equal(at(policy, 'properties.allow'), false, `${policy.name}: basic-auth publishing must be off`);
    }
    assert.equal(ofType(snap, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies').length, 2);
  });
});

test('isolated, the app is VNet-integrated and storage blob/queue/table and Key Vault are reached through private endpoints with private DNS', (t) => {
  inBothSettings(t, (snap, setting) => {
    const site = single(snap, 'Microsoft.Web/sites');
    const network = snap.predictedResources.filter((r) => r.type.startsWith('Microsoft.Network/'));
    if (setting === 'default') {
      assert.equal(at(site, 'properties.virtualNetworkSubnetId') ?? null, null, 'default: no VNet integration');
      assert.deepEqual(network.map((r) => r.type), [], 'default: no network resources');
      return;
    }
    const vnet = single(snap, 'Microsoft.Network/virtualNetworks');
    const subnets = at(vnet, 'properties.subnets') as { name: string; properties: Record<string, unknown> }[];
    const appSubnet = subnets.find((s) => s.name === 'app');
    assert.ok(appSubnet, 'no app subnet');
    assert.deepEqual((appSubnet.properties.delegations as { properties: { serviceName: string } }[]).map((d) => d.properties.serviceName), ['Microsoft.App/environments']);
    assert.equal(at(site, 'properties.virtualNetworkSubnetId'), `${vnet.id}/subnets/app`);

    const storage = single(snap, 'Microsoft.Storage/storageAccounts');
    const vault = single(snap, 'Microsoft.KeyVault/vaults');
    const endpoints = ofType(snap, 'Microsoft.Network/privateEndpoints');
    const targets = endpoints.map((pe) => {
      const connection = (at(pe, 'properties.privateLinkServiceConnections') as { properties: { privateLinkServiceId: string; groupIds: string[] } }[])[0]!;
      assert.equal(at(pe, 'properties.subnet.id'), `${vnet.id}/subnets/private-endpoints`, `${pe.name} is not in the private endpoint subnet`);
      return `${connection.properties.groupIds.join(',')} -> ${connection.properties.privateLinkServiceId}`;
    }).sort();
    assert.deepEqual(targets, [`blob -> ${storage.id}`, `queue -> ${storage.id}`, `table -> ${storage.id}`, `vault -> ${vault.id}`]);

    // Zone names come from the cloud's suffixes (environment(), resolved at deployment): evaluate
    // them for the public cloud.
    const publicCloud = { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' };
    const zones = ofType(snap, 'Microsoft.Network/privateDnsZones').map((z) => {
      const storageZone = /^\[format\('(privatelink\.\w+\.)\{0\}', environment\(\)\.suffixes\.storage\)\]$/.exec(z.name);
      if (storageZone) return `${storageZone[1]}${publicCloud.storage}`;
      if (z.name === "[format('privatelink{0}', replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.'))]") {
        return `privatelink${publicCloud.keyvaultDns.replace('.vault.', '.vaultcore.')}`;
      }
      return z.name;
    }).sort();
    assert.deepEqual(zones, ['privatelink.blob.core.windows.net', 'privatelink.queue.core.windows.net', 'privatelink.table.core.windows.net', 'privatelink.vaultcore.azure.net']);
    const links = ofType(snap, 'Microsoft.Network/privateDnsZones/virtualNetworkLinks');
    assert.equal(links.length, 4);
    for (const link of links) assert.equal(at(link, 'properties.virtualNetwork.id'), vnet.id);
    const groups = ofType(snap, 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups');
    assert.equal(groups.length, 4, 'each private endpoint registers its A record in its zone');
  });
});

/** Diagnostic settings by the resource they are attached to. */
function diagnosticsByScope(snap: Snapshot): Map<string, ArmResource> {
  return new Map(ofType(snap, 'Microsoft.Insights/diagnosticSettings').map((d) => [scopeOf(d) ?? '(none)', d]));
}

test('diagnostic settings send Key Vault audit events, storage writes and deletes (to Basic-plan tables by default) and FunctionAppLogs to the workspace, and can be turned off', (t) => {
  inBothSettings(t, (snap, setting) => {
    const workspace = single(snap, 'Microsoft.OperationalInsights/workspaces');
    const storage = single(snap, 'Microsoft.Storage/storageAccounts');
    const byScope = diagnosticsByScope(snap);
    const expected: [string, string[]][] = [
      [single(snap, 'Microsoft.KeyVault/vaults').id, ['group:audit']],
      [`${storage.id}/blobServices/default`, [...(setting === 'locked-down' ? ['StorageRead'] : []), 'StorageWrite', 'StorageDelete']],
      [`${storage.id}/queueServices/default`, [...(setting === 'locked-down' ? ['StorageRead'] : []), 'StorageWrite', 'StorageDelete']],
      [`${storage.id}/tableServices/default`, [...(setting === 'locked-down' ? ['StorageRead'] : []), 'StorageWrite', 'StorageDelete']],
      [single(snap, 'Microsoft.Web/sites').id, ['FunctionAppLogs']],
    ];
    assert.deepEqual([...byScope.keys()].sort(), expected.map(([scope]) => scope).sort(), `${setting}: diagnostic settings`);
    for (const [scope, categories] of expected) {
      const d = byScope.get(scope)!;
      assert.equal(at(d, 'properties.workspaceId'), workspace.id, `${scope}: logs go elsewhere`);
      const logs = at(d, 'properties.logs') as { category?: string; categoryGroup?: string; enabled: boolean }[];
      assert.deepEqual(logs.map((l) => (l.categoryGroup ? `group:${l.categoryGroup}` : l.category)), categories, scope);
      assert.ok(logs.every((l) => l.enabled), scope);
    }
    // The storage logs' workspace tables: the Basic plan by default (a fifth of the ingestion
    // price), Analytics when asked (storageLogsPlan).
    const tables = ofType(snap, 'Microsoft.OperationalInsights/workspaces/tables').filter((x) => /\/Storage\w+Logs$/.test(x.name));
    assert.deepEqual(tables.map((x) => `${x.name.split('/').pop()} ${String(at(x, 'properties.plan'))}`).sort(),
      ['StorageBlobLogs', 'StorageQueueLogs', 'StorageTableLogs'].map((n) => `${n} ${setting === 'locked-down' ? 'Analytics' : 'Basic'}`), `${setting}: storage log tables`);
    assert.ok(tables.every((x) => x.name.startsWith(`${workspace.name}/`)), `${setting}: the tables belong to the collector's workspace`);
  });
  const exe = bicepFor(t);
  if (!exe) return;
  assert.deepEqual(ofType(snapshot(exe, NO_DIAGNOSTICS), 'Microsoft.Insights/diagnosticSettings').map((d) => d.id), [], 'diagnosticSettings=false still creates diagnostic settings');
});

/** The workspace transformation rules (kind WorkspaceTransforms) of a snapshot. */
const workspaceTransforms = (snap: Snapshot): ArmResource[] =>
  ofType(snap, 'Microsoft.Insights/dataCollectionRules').filter((r) => r.kind === 'WorkspaceTransforms');

test('by default a workspace transformation drops the storage log records of the collector identity\'s own successful requests; storageLogsCollectorRequests keeps them', (t) => {
  inBothSettings(t, (snap, setting) => {
    const workspace = single(snap, 'Microsoft.OperationalInsights/workspaces');
    const transforms = workspaceTransforms(snap);
    if (setting === 'locked-down') {
      // storageLogsCollectorRequests=true: every record is kept, nothing links a rule.
      assert.deepEqual(transforms, [], 'locked-down: no workspace transformation');
      assert.equal(at(workspace, 'properties.defaultDataCollectionRuleResourceId'), undefined);
      assert.deepEqual([...redeclared(snap).keys()], [], 'locked-down: nothing declared twice');
      return;
    }
    assert.equal(transforms.length, 1, 'default: one workspace transformation rule');
    const rule = transforms[0]!;
    assert.equal(at(rule, 'properties.destinations.logAnalytics.0.workspaceResourceId'), workspace.id, 'the rule writes to the collector\'s workspace');
    const flows = at(rule, 'properties.dataFlows') as { streams: string[]; destinations: string[]; transformKql: string; outputStream?: string }[];
    assert.deepEqual(flows.map((f) => f.streams).flat().sort(), ['Microsoft-Table-StorageBlobLogs', 'Microsoft-Table-StorageQueueLogs', 'Microsoft-Table-StorageTableLogs'],
      'the rule transforms the three storage log tables and nothing else (one rule per workspace: any other table would be changed for every user)');
    const identity = single(snap, 'Microsoft.ManagedIdentity/userAssignedIdentities');
    for (const f of flows) {
      assert.deepEqual(f.destinations, ['workspace']);
      assert.equal(f.outputStream, undefined, 'records stay in their own table');
      // The filter names the collector's identity (known at deployment: a reference to its principalId).
      assert.match(f.transformKql, /^\[format\('source \| where RequesterObjectId !~ ''\{0\}'' or tostring\(StatusCode\) in \(''401'', ''403''\)', reference\('([^']+)'/, f.streams[0]);
      assert.equal(/reference\('([^']+)'/.exec(f.transformKql)![1], identity.id, `${f.streams[0]}: the filter names the app's identity`);
      assert.match(f.transformKql, /\)\.principalId\)\]$/, f.streams[0]);
    }
    // The link: the workspace declared a second time (modules/workspace-link.bicep) with the same
    // properties plus the rule; a PUT replaces every property, so any other difference would
    // change the workspace.
    assert.equal(at(workspace, 'properties.defaultDataCollectionRuleResourceId'), rule.id, 'the workspace is linked to the rule');
    const both = declarations(snap, 'Microsoft.OperationalInsights/workspaces');
    assert.equal(both.length, 2);
    const [created, linked] = both as [ArmResource, ArmResource];
    const { defaultDataCollectionRuleResourceId, ...rest } = at(linked, 'properties') as Record<string, unknown>;
    assert.equal(defaultDataCollectionRuleResourceId, rule.id);
    assert.deepEqual(rest, at(created, 'properties'), 'the link declares the workspace with the properties it was created with');
    for (const key of ['name', 'location', 'tags', 'apiVersion'] as const) assert.deepEqual(linked[key], created[key], key);
    assert.deepEqual([...redeclared(snap).keys()], [workspace.id], 'only the workspace is declared twice');
  });
  const exe = bicepFor(t);
  if (!exe) return;
  assert.deepEqual(workspaceTransforms(snapshot(exe, NO_DIAGNOSTICS)), [], 'diagnosticSettings=false: no storage logs, no rule');
  assert.deepEqual(workspaceTransforms(snapshot(exe, { ...DEFAULT, storageLogsCollectorRequests: true })), [], 'storageLogsCollectorRequests=true: no rule');
});

const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
};
const BROAD_ROLES = ['8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'b24988ac-6180-42a0-ab88-20f7382dd24c', '17d1049b-9a84-46fb-8f53-869881c3d3ab', '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9'];

test('each data role is granted to the app identity on the narrowest scope that works: blob roles per container, never the account', (t) => {
  inBothSettings(t, (snap, setting) => {
    const identity = single(snap, 'Microsoft.ManagedIdentity/userAssignedIdentities');
    const storage = single(snap, 'Microsoft.Storage/storageAccounts');
    const container = (name: string): string => `${storage.id}/blobServices/default/containers/${name}`;
    const deploymentContainer = ofType(snap, 'Microsoft.Storage/storageAccounts/blobServices/containers').map((c) => c.name.split('/').pop()!).find((n) => n.startsWith('app-package-'))!;
    const grants = ofType(snap, 'Microsoft.Authorization/roleAssignments').map((a) => {
      const role = String(at(a, 'properties.roleDefinitionId')).split('/').pop()!;
      const principal = String(at(a, 'properties.principalId'));
      return { role, scope: scopeOf(a), principal, type: at(a, 'properties.principalType') };
    });
    for (const g of grants) {
      assert.ok(g.scope, `a role assignment of ${g.role} has no resource scope (it would cover the resource group)`);
      assert.ok(!BROAD_ROLES.includes(g.role), `broad role ${g.role} granted`);
    }
    const app = grants.filter((g) => g.principal.includes(identity.id) && g.principal.endsWith('.principalId]'));
    for (const g of app) assert.equal(g.type, 'ServicePrincipal');
    const actual = app.map((g) => `${g.role} @ ${g.scope}`).sort();
    const expected = [
      `${ROLE.storageBlobDataContributor} @ ${container(deploymentContainer)}`,
      `${ROLE.storageBlobDataOwner} @ ${container('azure-webjobs-hosts')}`,
      `${ROLE.storageBlobDataOwner} @ ${container('azure-webjobs-secrets')}`,
      `${ROLE.storageBlobDataContributor} @ ${container('mtcspill')}`,
      `${ROLE.storageBlobDataContributor} @ ${container('mtcseen')}`,
      `${ROLE.storageBlobDataContributor} @ ${container('mtcbacklog')}`,
      `${ROLE.storageBlobDataContributor} @ ${container('mtcdetails')}`,
      `${ROLE.storageQueueDataContributor} @ ${storage.id}`,
      `${ROLE.storageTableDataContributor} @ ${storage.id}`,
      `${ROLE.keyVaultSecretsUser} @ ${single(snap, 'Microsoft.KeyVault/vaults').id}`,
      `${ROLE.monitoringMetricsPublisher} @ ${single(snap, 'Microsoft.Insights/components').id}`,
      ...(setting === 'locked-down' ? [`${ROLE.monitoringMetricsPublisher} @ ${single(snap, 'Microsoft.Insights/dataCollectionRules').id}`] : []),
    ].sort();
    assert.deepEqual(actual, expected, `${setting}: the app identity's roles`);
    const others = grants.filter((g) => !app.includes(g));
    if (setting === 'locked-down') {
      assert.deepEqual(others.map((g) => `${g.role} @ ${g.scope} -> ${g.principal} (${String(g.type)})`),
        [`${ROLE.keyVaultSecretsOfficer} @ ${single(snap, 'Microsoft.KeyVault/vaults').id} -> ${OFFICER_ID} (Group)`]);
    } else {
      assert.deepEqual(others, [], 'default: no role for anybody but the app identity');
    }
  });
});

test('Entra authentication, when configured, guards every HTTP route in addition to the function keys', (t) => {
  // Every HTTP function registers from its declaration (shared/http-api.ts HTTP_ROUTES; a docs test
  // checks that each function file uses httpTrigger).
  const httpFunctions = Object.values(HTTP_ROUTES).map((r) => r.authLevel);
  assert.ok(httpFunctions.length >= 4, 'no HTTP functions found');
  assert.deepEqual([...new Set(httpFunctions)], ['function'], 'every HTTP route keeps its function key');
  inBothSettings(t, (snap, setting) => {
    const auth = ofType(snap, 'Microsoft.Web/sites/config').filter((c) => c.name.endsWith('/authsettingsV2'));
    if (setting === 'default') {
      assert.equal(auth.length, 0, 'default: no App Service authentication (function keys only)');
      return;
    }
    assert.equal(auth.length, 1);
    const a = auth[0]!;
    assert.equal(at(a, 'properties.platform.enabled'), true);
    assert.equal(at(a, 'properties.globalValidation.requireAuthentication'), true);
    assert.equal(at(a, 'properties.globalValidation.unauthenticatedClientAction'), 'Return401');
    assert.equal(at(a, 'properties.httpSettings.requireHttps'), true);
    const aad = at(a, 'properties.identityProviders.azureActiveDirectory') as Record<string, unknown>;
    assert.equal(at(aad, 'enabled'), true);
    assert.equal(at(aad, 'registration.clientId'), ENTRA_CLIENT_ID);
    // The cloud's own login endpoint (environment(), resolved at deployment) and the deploying tenant.
    assert.equal(at(aad, 'registration.openIdIssuer'), `[format('{0}{1}/v2.0', environment().authentication.loginEndpoint, '${SNAPSHOT_SCOPE.tenantId}')]`);
    assert.deepEqual(at(aad, 'validation.allowedAudiences'), [`api://${ENTRA_CLIENT_ID}`, ENTRA_CLIENT_ID]);
    assert.deepEqual(at(aad, 'validation.defaultAuthorizationPolicy.allowedApplications'), [CALLER_CLIENT_ID]);
    assert.equal(at(a, 'properties.login.tokenStore.enabled'), false);
  });
});

function appSettings(snap: Snapshot): Record<string, string> {
  const config = ofType(snap, 'Microsoft.Web/sites/config').find((c) => c.name.endsWith('/appsettings'));
  assert.ok(config, 'no appsettings config resource');
  return config.properties as Record<string, string>;
}

test('every app setting shared/settings.ts marks requiredInAzure is set, and nothing undeclared', (t) => {
  inBothSettings(t, (snap, setting) => {
    const names = Object.keys(appSettings(snap));
    const required = APP_SETTINGS.filter((s) => s.requiredInAzure).map((s) => s.name);
    assert.deepEqual(required.filter((n) => !names.includes(n)), [], `${setting}: required settings missing`);
    const declared = new Set(APP_SETTINGS.map((s) => s.name));
    const platform = /^(AzureWebJobsStorage__\w+)$/;
    const referenceSettings = setting === 'locked-down' ? Object.keys(LOCKED_DOWN.keyVaultReferenceSettings) : [];
    const unknown = names.filter((n) => !declared.has(n) && !platform.test(n) && !referenceSettings.includes(n));
    assert.deepEqual(unknown, [], `${setting}: set but not declared in shared/settings.ts`);
    const runtime = names.filter((n) => /^(FUNCTIONS_WORKER_RUNTIME|FUNCTIONS_EXTENSION_VERSION|WEBSITE_RUN_FROM_PACKAGE|WEBSITE_NODE_DEFAULT_VERSION|WEBSITE_CONTENTAZUREFILECONNECTIONSTRING|AzureWebJobsStorage)$/.test(n));
    assert.deepEqual(runtime, [], 'Flex takes runtime settings from functionAppConfig, and AzureWebJobsStorage must be identity-based');
  });
});

test('storage connections and telemetry use the managed identity and the account endpoints', (t) => {
  inBothSettings(t, (snap) => {
    const settings = appSettings(snap);
    const identity = single(snap, 'Microsoft.ManagedIdentity/userAssignedIdentities');
    const storage = single(snap, 'Microsoft.Storage/storageAccounts');
    const clientId = (v: string): boolean => v.includes(identity.id) && v.endsWith('.clientId]');
    for (const prefix of ['AzureWebJobsStorage', 'JobsStorage']) {
      assert.equal(settings[`${prefix}__credential`], 'managedidentity');
      assert.ok(clientId(settings[`${prefix}__clientId`]!), `${prefix}__clientId: ${settings[`${prefix}__clientId`]}`);
      for (const service of ['blob', 'queue', 'table']) {
        const uri = settings[`${prefix}__${service}ServiceUri`]!;
        assert.ok(uri.includes(storage.id) && uri.endsWith(`.primaryEndpoints.${service}]`), `${prefix}__${service}ServiceUri: ${uri}`);
      }
    }
    assert.ok(clientId(settings.AZURE_CLIENT_ID!));
    assert.equal(settings.AZURE_TOKEN_CREDENTIALS, 'ManagedIdentityCredential');
    assert.match(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING!, /^\[format\('ClientId=\{0\};Authorization=AAD'/);
    assert.equal(settings.MTC_PAGE_QUEUE, 'page-jobs');
    assert.equal(settings.MTC_TABLE_PREFIX, 'mtc');
  });
});

test('Key Vault reference settings resolve with the user-assigned identity and cannot replace a collector setting', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const snap = snapshot(exe, LOCKED_DOWN);
  const settings = appSettings(snap);
  const vault = single(snap, 'Microsoft.KeyVault/vaults');
  assert.equal(settings.SPLUNK_HEC_TOKEN, `@Microsoft.KeyVault(VaultName=${vault.name};SecretName=splunk-hec-token)`);
  assert.equal(settings.MTC_PLAN_SCHEDULE, '0 */1 * * * *', 'a Key Vault reference replaced a collector setting');
});

const SECRET_WORDS = /(key|secret|password|connectionstring|token|credential|sas)/i;
const SECRET_PARAM_NAME = /(key|secret|password|token|connectionstring|credentials?|sas)$/i;

/** Every (nested) template in a compiled template: main and the modules inlined into it. */
function templates(template: Record<string, unknown>, name = 'main'): { name: string; template: Record<string, unknown> }[] {
  const out = [{ name, template }];
  const resources = template.resources;
  const list = Array.isArray(resources) ? resources : Object.values((resources ?? {}) as Record<string, unknown>);
  for (const r of list as Record<string, unknown>[]) {
    const inner = at(r, 'properties.template');
    if (r.type === 'Microsoft.Resources/deployments' && inner) out.push(...templates(inner as Record<string, unknown>, String(r.name)));
  }
  return out;
}

test('no output exposes a secret, no template reads keys, and parameters that can hold secrets are secure', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const main = buildTemplate(exe, 'infra/main.bicep');
  const all = templates(main);
  assert.ok(all.length >= 10, `expected main and its modules, found ${all.map((x) => x.name).join(', ')}`);
  for (const { name, template } of all) {
    const text = JSON.stringify(template);
    assert.doesNotMatch(text, /listKeys\(|listSecrets\(|listCredentials\(|AccountKey=/, `${name} reads keys`);
    for (const [out, def] of Object.entries((template.outputs ?? {}) as Record<string, object>)) {
      assert.ok(!SECRET_WORDS.test(out) || /^AZURE_KEY_VAULT_(NAME|URI)$/.test(out), `${name}: output ${out} has a secret-looking name`);
      assert.doesNotMatch(JSON.stringify(def), /ConnectionString|InstrumentationKey|primaryKey|secondaryKey|parameters\('mtcConfig/i, `${name}: output ${out} exposes a secret`);
    }
    for (const [param, def] of Object.entries((template.parameters ?? {}) as Record<string, { type: string }>)) {
      if (SECRET_PARAM_NAME.test(param) || /^mtcConfig/.test(param)) assert.match(def.type, /^secure/i, `${name}: parameter ${param} must be @secure()`);
    }
  }
  for (const p of ['mtcConfig', 'mtcConfigBase64']) assert.equal(main.parameters?.[p]?.type, 'securestring', `main.bicep ${p}`);
});

test('the alert rules and the workbook query exactly the telemetry names documented in docs/operations.md', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const snap = snapshot(exe, DEFAULT);
  const ops = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const rules = ofType(snap, 'Microsoft.Insights/scheduledQueryRules');
  const alertQueries = rules.map((r) => String(at(r, 'properties.criteria.allOf.0.query') ?? (at(r, 'properties.criteria.allOf') as { query: string }[])[0]!.query));
  assert.equal(rules.length, 7);
  const ai = single(snap, 'Microsoft.Insights/components');
  for (const r of rules) assert.deepEqual(at(r, 'properties.scopes'), [ai.id], r.name);
  const alerts = alertQueries.join('\n');
  for (const name of ['mtc.slices.parked', 'mtc.source.lag_seconds', 'mtc.health', 'mtc.api.requests', 'mtc.destination.backlog_age_seconds', 'mtc.destinations.parked']) {
    assert.ok(alerts.includes(`name == "${name}"`), `no alert queries ${name}`);
  }
  assert.match(alerts, /customDimensions\.errorType\) == "ThirdPartyConfig"/);
  assert.match(alerts, /customDimensions\.status\) == "429"/);
  const collectorWorkbooks = ofType(snap, 'Microsoft.Insights/workbooks').filter((w) => at(w, 'properties.sourceId') === ai.id);
  assert.equal(collectorWorkbooks.length, 1, 'one workbook over the Application Insights component');
  const workbook = String(at(collectorWorkbooks[0]!, 'properties.serializedData'));
  const used = new Set([...`${alerts}\n${workbook}`.matchAll(/name == \\?"(mtc\.[\w.]+)\\?"/g)].map((m) => m[1]!));
  assert.ok(used.size >= 6, `found only ${[...used].join(', ')}`);
  for (const name of used) assert.ok(ops.includes(`\`${name}\``), `${name} is queried by infra/ but not documented in docs/operations.md`);
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
  // The Bicep CLI restored under tools/ (about 120 MB) must not travel in the deployment package.
  assert.ok(funcignore.includes('/tools/'), '.funcignore must exclude /tools/');
});

test('infra/ holds main.bicep, its modules and the az CLI parameters file', () => {
  const files = infraFiles('.bicep', '.bicepparam');
  for (const f of ['infra/main.bicep', 'infra/main.bicepparam', ...['identity', 'monitoring', 'storage', 'keyvault', 'network', 'rbac', 'functionapp', 'alerts', 'workbook', 'logs-ingestion'].map((m) => `infra/modules/${m}.bicep`)]) {
    assert.ok(files.includes(f), `${f} missing; found ${files.join(', ')}`);
  }
});
