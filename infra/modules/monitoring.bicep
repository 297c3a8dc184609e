// Log Analytics workspace and a workspace-based Application Insights component, both accepting
// Entra ID (AAD) authenticated ingestion only: the workspace has local (shared-key) auth off, so
// the legacy HTTP Data Collector API and agents with workspace keys are refused, and the
// component has DisableLocalAuth (no instrumentation-key-only telemetry). The identity needs
// Monitoring Metrics Publisher on the component (modules/rbac.bicep) and the host needs
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING (modules/functionapp.bicep).
param logAnalyticsName string
param appInsightsName string
param location string
param tags object = {}

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Table plan of the storage audit logs (StorageBlobLogs, StorageQueueLogs, StorageTableLogs): Basic bills ingestion at about a fifth of Analytics and keeps 30 days interactive; Analytics allows alert rules and full KQL on them.')
@allowed([
  'Basic'
  'Analytics'
])
param storageLogsPlan string = 'Basic'

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
      disableLocalAuth: true
    }
  }
}

// The storage audit logs are one record per write or delete of the collector's own state (about 10
// a page job): read when investigating who touched the account, never alerted on. The plan is set
// before the storage module's diagnostic settings send anything (main.bicep: they take the
// workspace id from this module's outputs).
resource storageLogTables 'Microsoft.OperationalInsights/workspaces/tables@2025-07-01' = [for table in [
  'StorageBlobLogs'
  'StorageQueueLogs'
  'StorageTableLogs'
]: {
  parent: logAnalytics
  name: table
  properties: {
    plan: storageLogsPlan
  }
}]

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output logAnalyticsName string = logAnalytics.name
output logAnalyticsId string = logAnalytics.id
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
