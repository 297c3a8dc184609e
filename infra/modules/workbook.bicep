// Azure Monitor workbook over the collector's custom telemetry (names in docs/operations.md,
// "Telemetry contract"): lag per source, rows per minute, tenant budget use, errors by type and
// parked slices. The workbook JSON is built here as an object and serialized with string().
param location string
param tags object = {}
param appInsightsName string
param environmentName string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// One KQL tile of the workbook.
func kqlTile(name string, title string, query string, visualization string) object => {
  type: 3
  name: name
  content: {
    version: 'KqlItem/1.0'
    title: title
    query: query
    size: 0
    timeContext: {
      durationMs: 86400000
    }
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: visualization
  }
}

var tiles = [
  {
    type: 1
    name: 'intro'
    content: {
      json: '## Message trace collector (${environmentName})\nLag, throughput, tenant budget, errors and parked slices per source. Troubleshooting: docs/operations.md.'
    }
  }
  kqlTile('lag', 'Lag per source (seconds behind now)', 'customMetrics\n| where name == "mtc.source.lag_seconds"\n| extend source = tostring(customDimensions.source)\n| summarize lag_seconds = max(valueMax) by source, bin(timestamp, 5m)', 'timechart')
  kqlTile('rows', 'Rows forwarded per minute', 'customMetrics\n| where name == "mtc.rows.forwarded"\n| extend source = tostring(customDimensions.source)\n| summarize rows = sum(valueSum) by source, bin(timestamp, 1m)', 'timechart')
  kqlTile('budget', 'Tenant budget use (% of 100 requests per 5 minutes)', 'customMetrics\n| where name == "mtc.api.requests"\n| extend source = tostring(customDimensions.source)\n| summarize requests = sum(valueSum) by source, bin(timestamp, 5m)\n| extend budget_percent = round(100.0 * requests / 100, 1)\n| project timestamp, source, budget_percent', 'timechart')
  kqlTile('throttled', 'API answers by status', 'customMetrics\n| where name == "mtc.api.requests"\n| extend status = tostring(customDimensions.status)\n| summarize requests = sum(valueSum) by status, bin(timestamp, 5m)', 'barchart')
  kqlTile('errors', 'Errors by type', 'customEvents\n| where name == "mtc.health"\n| where tostring(customDimensions.state) == "Error"\n| extend errorType = tostring(customDimensions.errorType), source = tostring(customDimensions.source)\n| summarize errors = count() by errorType, source\n| order by errors desc', 'table')
  kqlTile('parked', 'Parked slices per source', 'customMetrics\n| where name == "mtc.slices.parked"\n| extend source = tostring(customDimensions.source)\n| summarize parked = max(valueMax) by source, bin(timestamp, 15m)', 'timechart')
  kqlTile('health', 'Latest health state per source', 'customEvents\n| where name == "mtc.health"\n| extend source = tostring(customDimensions.source), state = tostring(customDimensions.state), errorType = tostring(customDimensions.errorType)\n| summarize arg_max(timestamp, state, errorType) by source', 'table')
]

var workbookContent = {
  version: 'Notebook/1.0'
  items: tiles
  fallbackResourceIds: [
    appInsights.id
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsights.id, 'mtc-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Message trace collector (${environmentName})'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: string(workbookContent)
  }
}

output name string = workbook.name
