// Log Analytics custom table MessageTrace_CL and a Data Collection Rule (kind Direct, so it has its
// own logs ingestion endpoint) whose stream Custom-MessageTrace_CL carries the typed columns of the
// collector's "sentinel" format (shared/formats/sentinel.ts, SENTINEL_COLUMNS; a test keeps the two
// in sync). The function app's identity gets "Monitoring Metrics Publisher" on the DCR.
param location string
param tags object = {}
param logAnalyticsName string
param dcrName string
param principalId string
param tableName string = 'MessageTrace_CL'
@minValue(4)
@maxValue(730)
param retentionInDays int = 90

var columns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'EventId', type: 'string' }
  { name: 'M365TenantId', type: 'string' }
  { name: 'SourceId', type: 'string' }
  { name: 'Api', type: 'string' }
  { name: 'CollectedAt', type: 'datetime' }
  { name: 'ReceivedDateTime', type: 'datetime' }
  { name: 'MessageTraceId', type: 'string' }
  { name: 'MessageId', type: 'string' }
  { name: 'SenderAddress', type: 'string' }
  { name: 'SenderDomain', type: 'string' }
  { name: 'RecipientAddress', type: 'string' }
  { name: 'RecipientDomain', type: 'string' }
  { name: 'Subject', type: 'string' }
  { name: 'Status', type: 'string' }
  { name: 'Size', type: 'long' }
  { name: 'FromIP', type: 'string' }
  { name: 'ToIP', type: 'string' }
  { name: 'Direction', type: 'string' }
  { name: 'CustomFields', type: 'dynamic' }
]
var streamName = 'Custom-${tableName}'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' existing = {
  name: logAnalyticsName
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2025-07-01' = {
  parent: workspace
  name: tableName
  properties: {
    retentionInDays: retentionInDays
    schema: {
      name: tableName
      columns: columns
    }
  }
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2024-03-11' = {
  name: dcrName
  location: location
  tags: tags
  kind: 'Direct'
  properties: {
    streamDeclarations: {
      '${streamName}': {
        columns: columns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [streamName]
        destinations: ['workspace']
        transformKql: 'source'
        outputStream: streamName
      }
    ]
  }
  dependsOn: [table]
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: dcr
  name: guid(dcr.id, principalId, monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output ingestionEndpoint string = dcr.properties.endpoints.logsIngestion
output ruleId string = dcr.properties.immutableId
output streamName string = streamName
