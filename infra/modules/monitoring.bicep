// Log Analytics workspace and a workspace-based Application Insights component, both accepting
// Entra ID (AAD) authenticated ingestion only: the workspace has local (shared-key) auth off, so
// the legacy HTTP Data Collector API and agents with workspace keys are refused, and the
// component has DisableLocalAuth (no instrumentation-key-only telemetry). The identity needs
// Monitoring Metrics Publisher on the component (modules/rbac.bicep) and the host needs
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING (modules/functionapp.bicep).
import { workspaceProperties } from 'workspace-properties.bicep'

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

@description('A workspace transformation drops the storage log records of the collector identity\'s requests at ingestion, except refused ones (401, 403); every request by any other identity, key or SAS is kept.')
param filterCollectorStorageLogs bool = false

@description('With filterCollectorStorageLogs: principal (object) id of the collector\'s identity.')
param collectorPrincipalId string = ''

@description('With filterCollectorStorageLogs: name of the workspace transformation rule.')
param storageLogFilterName string = ''

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: workspaceProperties(retentionInDays)
}

// The storage audit logs are one record per write or delete of the collector's own state (about 10
// a page job): read when investigating who touched the account, never alerted on. The plan is set
// before the storage module's diagnostic settings send anything (main.bicep: they take the
// workspace id from this module's outputs).
resource storageLogTables 'Microsoft.OperationalInsights/workspaces/tables@2025-07-01' = [for table in storageLogTableNames: {
  parent: logAnalytics
  name: table
  properties: {
    plan: storageLogsPlan
  }
}]

// The storage log tables' ingestion-time filter (issue 19): the collector's own identity makes
// about 11 writes and deletes a page job, one log record each, and they are most of what the
// workspace ingests for a quiet tenant. Those records say only that the collector did its work;
// the audit question is who else touched the state. The workspace's one transformation rule
// (kind WorkspaceTransforms; it applies to data sent by diagnostic settings) keeps every record
// of another identity, of shared-key or SAS access, and the collector's own refused requests (a
// missing role shows there), and drops the rest before it is billed as ingestion. Filtering more
// than half of what enters a rule is billed as data processing, about a fifth of the Basic
// plan's ingestion price (docs/cost.md).
var storageLogTableNames = [
  'StorageBlobLogs'
  'StorageQueueLogs'
  'StorageTableLogs'
]
var storageLogFilterKql = 'source | where RequesterObjectId !~ \'${collectorPrincipalId}\' or tostring(StatusCode) in (\'401\', \'403\')'

resource storageLogFilter 'Microsoft.Insights/dataCollectionRules@2024-03-11' = if (filterCollectorStorageLogs) {
  name: storageLogFilterName
  location: location
  tags: tags
  kind: 'WorkspaceTransforms'
  properties: {
    description: 'Drops the storage log records of the collector\'s own successful requests (message-trace-collector, infra parameter storageLogsCollectorRequests).'
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: logAnalytics.id
        }
      ]
    }
    dataFlows: [for table in storageLogTableNames: {
      streams: ['Microsoft-Table-${table}']
      destinations: ['workspace']
      transformKql: storageLogFilterKql
    }]
  }
  dependsOn: [storageLogTables]
}

module workspaceLink 'workspace-link.bicep' = if (filterCollectorStorageLogs) {
  name: 'workspace-transformation-link'
  params: {
    name: logAnalytics.name
    location: location
    tags: tags
    retentionInDays: retentionInDays
    dataCollectionRuleId: storageLogFilter.id
  }
}

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
