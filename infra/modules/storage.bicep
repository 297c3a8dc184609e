// The storage account for the Functions host (AzureWebJobsStorage), the Flex deployment package,
// the page-job queues, the state tables and the app's blob containers. Entra ID only: shared keys
// are disabled, so every client (host, deployment, SDK code, Storage Explorer) authenticates with
// an identity. With networkIsolation the account takes no public traffic: the app reaches it
// through private endpoints (modules/network.bicep).
param name string
param location string
param tags object = {}

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Blob containers created up front besides the deployment container (host and app containers), so data roles can be scoped to each one (modules/rbac.bicep).')
param containerNames array

@description('Queues created up front: every queue the host can create (the page queue, its poison queue, and the poison queue of the poison trigger, which the poisonSweep timer empties), so alerts and consumers find them.')
param queueNames array

@description('State tables created up front.')
param tableNames array

@description('No public network access: only private endpoints reach the account.')
param networkIsolation bool = false

@description('Log Analytics workspace resource id for the blob, queue and table diagnostic settings. Empty: none.')
param workspaceId string = ''

@description('Also log reads (StorageRead). Off by default: the queue trigger polls, so reads dominate the volume; writes and deletes are always logged.')
param logReads bool = false

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: networkIsolation ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: networkIsolation ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-06-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-06-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-06-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-06-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

// Data-plane audit: who wrote or deleted what, with which identity (StorageBlobLogs,
// StorageQueueLogs, StorageTableLogs in the workspace).
var storageLogs = concat(logReads ? [{ category: 'StorageRead', enabled: true }] : [], [
  { category: 'StorageWrite', enabled: true }
  { category: 'StorageDelete', enabled: true }
])

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
  scope: blobService
  name: 'audit-to-workspace'
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
  scope: queueService
  name: 'audit-to-workspace'
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
  scope: tableService
  name: 'audit-to-workspace'
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
