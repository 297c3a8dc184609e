// Log Analytics custom tables MessageTrace_CL (trace rows) and MessageTraceDetail_CL (detail events,
// one per getDetailsByRecipient event of a failed, quarantined or spam-filtered row) and a Data
// Collection Rule (kind Direct, so it has its own logs ingestion endpoint) with one stream per table,
// Custom-MessageTrace_CL and Custom-MessageTraceDetail_CL, carrying the typed columns of the
// collector's "sentinel" format (shared/formats/sentinel/format.ts, SENTINEL_COLUMNS and
// SENTINEL_DETAIL_COLUMNS; a test keeps them in sync). The azure-monitor destination sends detail
// events to the stream named after its "streamName" with "Detail" before "_CL". Why two tables:
// docs/siem/sentinel.md. The function app's identity gets "Monitoring Metrics Publisher" on the DCR.
param location string
param tags object = {}
param logAnalyticsName string
param dcrName string
param principalId string
@description('The custom table of trace rows; a custom table name ends with _CL. The detail table is named after it (MessageTrace_CL -> MessageTraceDetail_CL).')
@minLength(4)
param tableName string = 'MessageTrace_CL'
@minValue(4)
@maxValue(730)
param retentionInDays int = 90
@description('Retention of the detail table; details matter for investigations, so they may be kept shorter or longer than the rows.')
@minValue(4)
@maxValue(730)
param detailRetentionInDays int = retentionInDays

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
var detailColumns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'EventId', type: 'string' }
  { name: 'TraceEventId', type: 'string' }
  { name: 'RowKey', type: 'string' }
  { name: 'DetailIndex', type: 'long' }
  { name: 'DetailCount', type: 'long' }
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
  { name: 'TraceStatus', type: 'string' }
  { name: 'Direction', type: 'string' }
  { name: 'DetailEvent', type: 'string' }
  { name: 'DetailAction', type: 'string' }
  { name: 'Description', type: 'string' }
  { name: 'Data', type: 'string' }
  { name: 'SmtpStatusCode', type: 'string' }
  { name: 'SmtpEnhancedStatusCode', type: 'string' }
  { name: 'SmtpResponse', type: 'string' }
  { name: 'RemoteHost', type: 'string' }
  { name: 'RemoteIP', type: 'string' }
  { name: 'RuleName', type: 'string' }
  { name: 'RuleId', type: 'string' }
  { name: 'RulePolicyName', type: 'string' }
  { name: 'RuleAction', type: 'string' }
  { name: 'SpamConfidenceLevel', type: 'long' }
  { name: 'SpamFilterVerdict', type: 'string' }
  { name: 'SpamCategory', type: 'string' }
  { name: 'SpamFilterAction', type: 'string' }
  { name: 'DeliveryFolder', type: 'string' }
  { name: 'ServerHostname', type: 'string' }
  { name: 'MalwareName', type: 'string' }
  { name: 'CustomFields', type: 'dynamic' }
]
var streamName = 'Custom-${tableName}'
// MessageTrace_CL -> MessageTraceDetail_CL: the name the azure-monitor destination derives for details.
var detailTableName = '${substring(tableName, 0, length(tableName) - 3)}Detail_CL'
var detailStreamName = 'Custom-${detailTableName}'
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

resource detailTable 'Microsoft.OperationalInsights/workspaces/tables@2025-07-01' = {
  parent: workspace
  name: detailTableName
  properties: {
    retentionInDays: detailRetentionInDays
    schema: {
      name: detailTableName
      columns: detailColumns
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
      '${detailStreamName}': {
        columns: detailColumns
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
      {
        streams: [detailStreamName]
        destinations: ['workspace']
        transformKql: 'source'
        outputStream: detailStreamName
      }
    ]
  }
  dependsOn: [table, detailTable]
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
output detailStreamName string = detailStreamName
