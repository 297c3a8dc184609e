// message-trace-collector: everything one deployment of the collector needs, in one resource group.
// Deploy with `azd up` (parameters from main.parameters.json, azd placeholders) or
// `az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam` (docs/onboarding.md).
// CI compiles it with the Bicep CLI (bicep build + lint, 0 warnings) and checks the security
// properties on the ARM JSON the compiler emits, in the default and the locked-down settings
// (test/infra/*.test.ts); the app settings the code reads are declared in shared/settings.ts.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('azd environment name; used to derive resource names and tags.')
param environmentName string

@minLength(1)
@description('Azure region for every resource. Flex Consumption must be available in it.')
param location string = resourceGroup().location

// ---- Scale: derived from the tenant request budget ------------------------------------------------
// Graph allows 100 requests per rolling 5 minutes per tenant (shared with every other tool in the
// tenant). One page request takes about 3 s, so ONE worker slot that fetches pages back to back
// makes 300 s / 3 s = 100 requests per 5 minutes: a single slot can use a whole tenant's budget.
// host.json gives each instance batchSize 4 + newBatchThreshold 2 = 6 concurrent queue messages,
// so one instance can keep about 6 tenants at full budget. More instances than that buy nothing
// (the shared tenant budget, not compute, is the limit) and only add 429s and budget waits.
//   instances needed  = ceil(tenants / 6)
//   default           = ceil(tenants * 2 / 6) = ceil(tenants / 3): a factor 2 of headroom for slow
//                       pages, retries and slots that sit waiting for budget.
// With the default expectedTenantCount of 24 this gives 8 instances, which covers 48 tenants at
// full budget. The cap applies to each Flex per-function scale group (the page-jobs queue function
// scales on its own instances; the timer and the HTTP functions have their own groups).
// The platform range is 1..1000 (learn.microsoft.com/azure/azure-functions/event-driven-scaling,
// "Limit scale-out", 2026-08); older pages and the team reference say the lowest value is 40. If a
// region rejects a value below 40, pass maximumInstanceCount=40.
@minValue(1)
@description('How many tenants (sources) this deployment is sized for; sets the default scale-out cap.')
param expectedTenantCount int = 24

@minValue(1)
@maxValue(1000)
@description('Flex Consumption maximumInstanceCount (per scale group). Default: ceil(expectedTenantCount / 3), see the arithmetic above.')
param maximumInstanceCount int = max(1, (expectedTenantCount + 2) / 3)

@allowed([512, 2048, 4096])
@description('Flex Consumption instance memory size in MB.')
param instanceMemoryMB int = 2048

// ---- Application configuration ---------------------------------------------------------------------
@secure()
@description('The configuration document (JSON text) for app setting MTC_CONFIG. It holds only secret references (kv:<name>), but is @secure so deployment history never keeps it. Empty: use mtcConfigBase64.')
param mtcConfig string = ''

// azd substitutes ${VAR} into main.parameters.json as raw text before parsing it, so JSON text with
// quotes cannot travel through an azd environment variable; base64 can (docs/onboarding.md).
@secure()
@description('The configuration document as base64 of its JSON text (used when mtcConfig is empty). Both empty: a document with no sources.')
param mtcConfigBase64 string = ''

@description('NCRONTAB schedule of the planner timer (app setting MTC_PLAN_SCHEDULE). UTC.')
param planSchedule string = '0 */1 * * * *'

@description('Extra app settings that resolve to Key Vault secrets: { "<APP_SETTING_NAME>": "<secret name>" }. Each becomes a Key Vault reference resolved with the user-assigned identity; use them from the configuration as env secret references. Only names go in here, never values.')
param keyVaultReferenceSettings object = {}

// ---- Key Vault --------------------------------------------------------------------------------------
// Purge protection is always on (modules/keyvault.bicep): it cannot be turned off, here or later.
@minValue(7)
@maxValue(90)
@description('Key Vault soft-delete retention in days.')
param keyVaultSoftDeleteRetentionDays int = 90

@description('Object id of the person or pipeline that writes the client secrets into Key Vault (gets Key Vault Secrets Officer on the vault). azd fills it with the signed-in principal. Empty: no assignment.')
#disable-next-line secure-secrets-in-params // an Entra object id, not a secret ("secrets" names the role)
param secretsOfficerPrincipalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
@description('Principal type of secretsOfficerPrincipalId.')
#disable-next-line secure-secrets-in-params // a principal type, not a secret
param secretsOfficerPrincipalType string = 'User'

// ---- Locked-down options (docs/onboarding.md, "Locked-down deployment") --------------------------------
@description('Network isolation: VNet integration for the function app, private endpoints (with private DNS zones) for storage blob/queue/table and Key Vault, and public network access off on both. Needs a region with Flex Consumption VNet integration; secrets are then written from inside the network.')
param networkIsolation bool = false

@description('Address space of the virtual network (networkIsolation).')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Subnet of the Flex Consumption VNet integration, inside vnetAddressPrefix (networkIsolation).')
param appSubnetPrefix string = '10.40.0.0/24'

@description('Subnet of the private endpoints, inside vnetAddressPrefix (networkIsolation).')
param privateEndpointSubnetPrefix string = '10.40.1.0/24'

@description('Diagnostic settings to the Log Analytics workspace: Key Vault audit events, storage blob/queue/table writes and deletes, FunctionAppLogs.')
param diagnosticSettings bool = true

@description('With diagnosticSettings: also log storage reads (StorageRead). The queue trigger polls, so this is most of the volume.')
param diagnosticStorageReads bool = false

@description('With diagnosticSettings: the workspace table plan of the storage logs. Basic (about a fifth of the ingestion price, 30 days interactive, no alert rules) or Analytics.')
@allowed([
  'Basic'
  'Analytics'
])
param storageLogsPlan string = 'Basic'

@description('With diagnosticSettings: also keep the storage log records of the collector\'s own successful requests (about 11 writes and deletes a page job). Off: a workspace transformation drops them at ingestion and keeps every request by any other identity, key or SAS, and the collector\'s refused ones (401, 403).')
param storageLogsCollectorRequests bool = false

@description('Client id of an Entra app registration: App Service authentication then requires an Entra token for it on every HTTP route, in addition to the function key. Empty: function keys only.')
param entraAuthClientId string = ''

@description('With entraAuthClientId: the application (client) ids allowed to call the HTTP routes. Empty: any caller holding a token for the app.')
param entraAuthAllowedClientIds array = []

// ---- Alerts -----------------------------------------------------------------------------------------
@description('E-mail address that receives alerts. Empty: the alert rules are created without an action group.')
param alertEmail string = ''

@minValue(60)
@description('Alert when a source lags behind now by more than this many seconds (custom metric mtc.source.lag_seconds).')
param lagAlertThresholdSeconds int = 3600

@description('Alert when a source\'s settledUntil is further behind now than this (seconds).')
param settleLagAlertThresholdSeconds int = 100800

@minValue(1)
@description('Alert when a source gets more than this many 429 answers in each of two consecutive 15-minute windows (custom metric mtc.api.requests, status 429).')
param throttledRequestsAlertThreshold int = 10

@description('Alert when a destination has had units waiting in its backlog for longer than this (seconds).')
param backlogAgeAlertThresholdSeconds int = 3600

@description('Tags added to every resource.')
param tags object = {}

@description('Deploy the Log Analytics custom table MessageTrace_CL and its DCR for an "azure-monitor" destination (docs/destinations.md).')
param deployLogsIngestion bool = false

// ---- Names -------------------------------------------------------------------------------------------
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, { 'azd-env-name': environmentName })
var names = {
  identity: 'id-mtc-${resourceToken}'
  logAnalytics: 'log-mtc-${resourceToken}'
  appInsights: 'appi-mtc-${resourceToken}'
  storage: 'stmtc${resourceToken}'
  keyVault: 'kv-mtc-${resourceToken}'
  plan: 'plan-mtc-${resourceToken}'
  functionApp: 'func-mtc-${resourceToken}'
  actionGroup: 'ag-mtc-${resourceToken}'
  storageLogFilter: 'dcr-mtc-storage-logs-${resourceToken}'
  vnet: 'vnet-mtc-${resourceToken}'
}
// Names the code uses (shared/settings.ts defaults: queue page-jobs, table prefix mtc).
var pageQueueName = 'page-jobs'
var tablePrefix = 'mtc'
var tableNames = ['${tablePrefix}cursors', '${tablePrefix}slices', '${tablePrefix}runs', '${tablePrefix}health', '${tablePrefix}budget', '${tablePrefix}backlog', '${tablePrefix}details', '${tablePrefix}pages', '${tablePrefix}seen']
var deploymentContainerName = 'app-package-${take(resourceToken, 8)}'
// Blob containers: the Functions host's own (timer locks and schedule status, host keys) and the
// collector's (shared/runtime.ts: <prefix>spill, <prefix>seen, <prefix>backlog, <prefix>details). Created here so each gets its own
// narrow role assignment (modules/rbac.bicep).
var hostContainerNames = ['azure-webjobs-hosts', 'azure-webjobs-secrets']
var appContainerNames = ['${tablePrefix}spill', '${tablePrefix}seen', '${tablePrefix}backlog', '${tablePrefix}details']
var workspaceForDiagnostics = diagnosticSettings ? monitoring.outputs.logAnalyticsId : ''

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: allTags
    storageLogsPlan: storageLogsPlan
    filterCollectorStorageLogs: diagnosticSettings && !storageLogsCollectorRequests
    collectorPrincipalId: identity.outputs.principalId
    storageLogFilterName: names.storageLogFilter
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: allTags
    deploymentContainerName: deploymentContainerName
    containerNames: concat(hostContainerNames, appContainerNames)
    queueNames: [pageQueueName, '${pageQueueName}-poison', '${pageQueueName}-poison-poison']
    tableNames: tableNames
    networkIsolation: networkIsolation
    workspaceId: workspaceForDiagnostics
    logReads: diagnosticStorageReads
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
    networkIsolation: networkIsolation
    workspaceId: workspaceForDiagnostics
  }
}

module network 'modules/network.bicep' = if (networkIsolation) {
  name: 'network'
  params: {
    name: names.vnet
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
    storageAccountId: storage.outputs.id
    keyVaultId: keyVault.outputs.id
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    hostContainerNames: hostContainerNames
    appContainerNames: appContainerNames
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    secretsOfficerPrincipalId: secretsOfficerPrincipalId
    secretsOfficerPrincipalType: secretsOfficerPrincipalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionApp'
  params: {
    planName: names.plan
    appName: names.functionApp
    location: location
    tags: union(allTags, { 'azd-service-name': 'collector' })
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    mtcConfig: !empty(mtcConfig) ? mtcConfig : (!empty(mtcConfigBase64) ? base64ToString(mtcConfigBase64) : '')
    planSchedule: planSchedule
    pageQueueName: pageQueueName
    tablePrefix: tablePrefix
    keyVaultReferenceSettings: keyVaultReferenceSettings
    appSubnetId: networkIsolation ? network!.outputs.appSubnetId : ''
    workspaceId: workspaceForDiagnostics
    entraAuthClientId: entraAuthClientId
    entraAuthAllowedClientIds: entraAuthAllowedClientIds
  }
  // The app must not start before its identity can read storage, Key Vault and publish telemetry
  // (and, isolated, before the private endpoints exist).
  dependsOn: [
    rbac
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: allTags
    appInsightsName: monitoring.outputs.appInsightsName
    actionGroupName: names.actionGroup
    alertEmail: alertEmail
    lagThresholdSeconds: lagAlertThresholdSeconds
    settleLagThresholdSeconds: settleLagAlertThresholdSeconds
    throttledRequestsThreshold: throttledRequestsAlertThreshold
    backlogAgeThresholdSeconds: backlogAgeAlertThresholdSeconds
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: allTags
    appInsightsName: monitoring.outputs.appInsightsName
    environmentName: environmentName
  }
}

// Names and URIs only: no keys, connection strings or secrets.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_COLLECTOR_NAME string = functionApp.outputs.name
output FUNCTION_APP_URI string = functionApp.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output WORKBOOK_NAME string = workbook.outputs.name

module logsIngestion 'modules/logs-ingestion.bicep' = if (deployLogsIngestion) {
  name: 'logs-ingestion'
  params: {
    location: location
    tags: allTags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    dcrName: 'dcr-mtc-${environmentName}'
    principalId: identity.outputs.principalId
  }
}

// ASIM Email Event parsers, hunting queries and a workbook over MessageTrace_CL (docs/siem/sentinel.md).
module sentinelContent 'modules/sentinel-content.bicep' = if (deployLogsIngestion) {
  name: 'sentinel-content'
  params: {
    location: location
    tags: allTags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    environmentName: environmentName
  }
  dependsOn: [logsIngestion]
}

output LOGS_INGESTION_ENDPOINT string = deployLogsIngestion ? logsIngestion!.outputs.ingestionEndpoint : ''
output LOGS_INGESTION_RULE_ID string = deployLogsIngestion ? logsIngestion!.outputs.ruleId : ''
