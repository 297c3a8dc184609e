// Log alert rules over the Application Insights component. They query the custom telemetry the
// collector emits; the names and dimensions are the contract in docs/operations.md ("Telemetry
// contract"): change both together.
//   mtc.slices.parked       metric (gauge), dimension source        -> parked slices above 0
//   mtc.source.lag_seconds  metric (gauge), dimension source        -> lag above a threshold
//   mtc.health              event, properties source, state, errorType -> ThirdPartyConfig error
//   mtc.api.requests        metric (counter), dimensions source, status -> sustained 429s
//   mtc.destination.backlog_age_seconds metric (gauge), dimensions source, destination -> a destination behind
//   mtc.destinations.parked metric (gauge), dimensions source, destination -> a parked destination
// The destination rules split by "<source>/<destination>" in the source dimension.
param location string
param tags object = {}
param appInsightsName string
param actionGroupName string

@description('E-mail address for alert notifications. Empty: no action group.')
param alertEmail string = ''

param lagThresholdSeconds int = 3600

@description('Alert when settledUntil is further behind now than this (seconds). Default: the last re-read age (24 h) + a bucket (1 h) + 3 h of margin.')
param settleLagThresholdSeconds int = 100800
param throttledRequestsThreshold int = 10

@description('Alert when the oldest unit waiting for a destination is older than this (seconds).')
param backlogAgeThresholdSeconds int = 3600

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'mtc-alerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroups = empty(alertEmail) ? [] : [actionGroup.id]

var rules = [
  {
    name: 'mtc-parked-slices'
    displayName: 'Message trace collector: parked slices'
    description: 'A source has parked slices (mtc.slices.parked > 0). Data is held back until they are replayed: see docs/operations.md, "Parked slices".'
    severity: 2
    windowSize: 'PT15M'
    evaluationFrequency: 'PT5M'
    query: 'customMetrics | where name == "mtc.slices.parked" | extend source = tostring(customDimensions.source) | summarize parked = max(valueMax) by source'
    measure: 'parked'
    aggregation: 'Maximum'
    threshold: 0
    periods: 1
  }
  {
    name: 'mtc-source-lag'
    displayName: 'Message trace collector: source lag'
    description: 'A source lags behind now by more than ${lagThresholdSeconds} s (mtc.source.lag_seconds). See docs/operations.md, "Lag".'
    severity: 2
    windowSize: 'PT15M'
    evaluationFrequency: 'PT5M'
    query: 'customMetrics | where name == "mtc.source.lag_seconds" | extend source = tostring(customDimensions.source) | summarize lag = max(valueMax) by source'
    measure: 'lag'
    aggregation: 'Maximum'
    threshold: lagThresholdSeconds
    periods: 1
  }
  {
    name: 'mtc-settle-lag'
    displayName: 'Message trace collector: settling behind'
    description: 'A source has not settled (every re-read done) for more than ${settleLagThresholdSeconds} s (mtc.source.settle_lag_seconds). See docs/settle.md.'
    severity: 3
    windowSize: 'PT30M'
    evaluationFrequency: 'PT15M'
    query: 'customMetrics | where name == "mtc.source.settle_lag_seconds" | extend source = tostring(customDimensions.source) | summarize lag = max(valueMax) by source'
    measure: 'lag'
    aggregation: 'Maximum'
    threshold: settleLagThresholdSeconds
    periods: 1
  }
  {
    name: 'mtc-third-party-config'
    displayName: 'Message trace collector: source configuration error'
    description: 'A source stopped with a ThirdPartyConfig error (missing service principal, permission or consent, bad or expired secret). It will not retry until its configuration changes. See docs/operations.md, "ThirdPartyConfig".'
    severity: 1
    windowSize: 'PT5M'
    evaluationFrequency: 'PT5M'
    query: 'customEvents | where name == "mtc.health" | where tostring(customDimensions.state) == "Error" and tostring(customDimensions.errorType) == "ThirdPartyConfig" | extend source = tostring(customDimensions.source) | summarize events = count() by source'
    measure: 'events'
    aggregation: 'Total'
    threshold: 0
    periods: 1
  }
  {
    name: 'mtc-throttled-requests'
    displayName: 'Message trace collector: sustained 429 throttling'
    description: 'A source got more than ${throttledRequestsThreshold} HTTP 429 answers in each of two consecutive 15-minute windows (mtc.api.requests, status 429): another tool shares the tenant budget, or the budget settings are too high. See docs/operations.md, "ThirdPartyGeneric".'
    severity: 3
    windowSize: 'PT15M'
    evaluationFrequency: 'PT15M'
    query: 'customMetrics | where name == "mtc.api.requests" | where tostring(customDimensions.status) == "429" | extend source = tostring(customDimensions.source) | summarize throttled = sum(valueSum) by source'
    measure: 'throttled'
    aggregation: 'Total'
    threshold: throttledRequestsThreshold
    periods: 2
  }
  {
    name: 'mtc-destination-backlog'
    displayName: 'Message trace collector: a destination is behind'
    description: 'A destination has had units waiting in its backlog for more than ${backlogAgeThresholdSeconds} s (mtc.destination.backlog_age_seconds): it is down or slow; the other destinations are not held back. See docs/operations.md, "Runbook: a destination behind or parked".'
    severity: 2
    windowSize: 'PT15M'
    evaluationFrequency: 'PT5M'
    query: 'customMetrics | where name == "mtc.destination.backlog_age_seconds" | extend source = strcat(tostring(customDimensions.source), "/", tostring(customDimensions.destination)) | summarize age = max(valueMax) by source'
    measure: 'age'
    aggregation: 'Maximum'
    threshold: backlogAgeThresholdSeconds
    periods: 1
  }
  {
    name: 'mtc-destination-parked'
    displayName: 'Message trace collector: a destination is parked'
    description: 'A destination is parked for a source (mtc.destinations.parked): its backlog passed a limit, or it refused our credentials. Nothing more is stored for it; what it misses is recorded. Fix it, then POST /api/sources/<source>/destinations/<destination>/replay. See docs/operations.md, "Runbook: a destination behind or parked".'
    severity: 1
    windowSize: 'PT15M'
    evaluationFrequency: 'PT5M'
    query: 'customMetrics | where name == "mtc.destinations.parked" | extend source = strcat(tostring(customDimensions.source), "/", tostring(customDimensions.destination)) | summarize parked = max(valueMax) by source'
    measure: 'parked'
    aggregation: 'Maximum'
    threshold: 0
    periods: 1
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = [for rule in rules: {
  name: rule.name
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: rule.evaluationFrequency
    windowSize: rule.windowSize
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: rule.aggregation
          metricMeasureColumn: rule.measure
          dimensions: [
            {
              name: 'source'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: rule.periods
            minFailingPeriodsToAlert: rule.periods
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroups
    }
  }
}]

output alertRuleNames array = [for (rule, i) in rules: alertRules[i].name]
