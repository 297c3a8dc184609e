// Least-privilege role assignments for the app's user-assigned identity, each scoped to the one
// resource it needs (never the resource group). Role definition ids: team reference
// azure-functions.md section 2.4 (built-in roles).
@description('Principal (object) id of the user-assigned managed identity.')
param principalId string
param storageAccountName string

@description('The Flex Consumption deployment package container.')
param deploymentContainerName string

@description('Blob containers the Functions host uses on AzureWebJobsStorage (timer locks and schedule status, host keys).')
param hostContainerNames array

@description('Blob containers the collector\'s own code uses (page copies, the settle seen-store, destination backlogs, detail answers).')
param appContainerNames array
param keyVaultName string
param appInsightsName string

@description('Optional: object id of the person or pipeline that writes secrets into the vault (Key Vault Secrets Officer). Empty: none.')
#disable-next-line secure-secrets-in-params // an Entra object id, not a secret ("secrets" names the role)
param secretsOfficerPrincipalId string = ''
#disable-next-line secure-secrets-in-params // a principal type (User, Group, ServicePrincipal), not a secret
param secretsOfficerPrincipalType string = 'User'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Blob data roles are scoped to single containers, never the account:
//   deployment package container  Storage Blob Data Contributor (Flex reads the package; azd's
//                                 deployment writes it through the platform)
//   host containers               Storage Blob Data Owner, the role the Functions host documents
//                                 for AzureWebJobsStorage (blob leases for the timer singleton,
//                                 schedule status, host keys), limited to its own containers
//   the collector's containers    Storage Blob Data Contributor (spill, seen-store, backlog, details)
// Every container exists before the app starts (modules/storage.bicep), so nobody needs the
// account-wide right to create one.
var blobGrants = concat(
  [{ container: deploymentContainerName, role: roles.storageBlobDataContributor }],
  map(hostContainerNames, c => { container: c, role: roles.storageBlobDataOwner }),
  map(appContainerNames, c => { container: c, role: roles.storageBlobDataContributor })
)

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' existing = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' existing = [for grant in blobGrants: {
  parent: blobService
  name: grant.container
}]

resource blobRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (grant, i) in blobGrants: {
  name: guid(containers[i].id, principalId, grant.role)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', grant.role)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// Queue trigger on page-jobs, SDK enqueue of page jobs, the poison consumer.
resource storageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Cursor, slice ledger, runs, health and budget tables.
resource storageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Read secrets (client secrets, destination tokens) and resolve Key Vault references.
resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Entra-authenticated telemetry ingestion (the component has local auth disabled).
resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Optional: the operator who writes client secrets into the vault (docs/onboarding.md).
resource keyVaultSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: secretsOfficerPrincipalId
    principalType: secretsOfficerPrincipalType
  }
}
