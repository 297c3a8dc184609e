// Microsoft Sentinel content over the MessageTrace_CL and MessageTraceDetail_CL tables
// (logs-ingestion.bicep): the ASIM Email Event parsers vimEmailEventMicrosoftMessageTrace (filtering;
// trace rows, completed by their detail events) and ASimEmailEventMicrosoftMessageTrace as workspace
// functions, two hunting queries and a workbook with a "Mail flow (ASIM)" tab that use them, plus two
// tiles over the detail table (SMTP status of failures, rules that acted).
// Every query is a file in infra/kql/ (one query or function body each; a header line
// `// function: <name>(<parameters>)` or `// query: <name>`), loaded here with loadTextContent.
// test/infra/sentinel-content.test.ts keeps the function parameters here equal to the files' headers.
param logAnalyticsName string
param location string
param tags object = {}
param environmentName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

var parserParameters = 'starttime:datetime=datetime(null), endtime:datetime=datetime(null), ipaddr_has_any_prefix:dynamic=dynamic([]), emailfromaddress_has_any:dynamic=dynamic([]), emailrecipient_has_any:dynamic=dynamic([]), emailsubject_has_any:dynamic=dynamic([]), emaildirection_in:dynamic=dynamic([]), emaildeliverylocation_in:dynamic=dynamic([]), eventresult:string=\'*\', pack:bool=false'

resource vimParser 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = {
  parent: workspace
  name: 'vimEmailEventMicrosoftMessageTrace'
  properties: {
    category: 'ASIM'
    displayName: 'Email Event ASIM filtering parser for Exchange Online message trace (message-trace-collector)'
    functionAlias: 'vimEmailEventMicrosoftMessageTrace'
    functionParameters: parserParameters
    query: loadTextContent('../kql/vimEmailEventMicrosoftMessageTrace.kql')
    version: 2
  }
}

resource asimParser 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = {
  parent: workspace
  name: 'ASimEmailEventMicrosoftMessageTrace'
  properties: {
    category: 'ASIM'
    displayName: 'Email Event ASIM parser for Exchange Online message trace (message-trace-collector)'
    functionAlias: 'ASimEmailEventMicrosoftMessageTrace'
    functionParameters: 'pack:bool=false'
    query: loadTextContent('../kql/ASimEmailEventMicrosoftMessageTrace.kql')
    version: 2
  }
  dependsOn: [vimParser]
}

var huntingQueries = [
  {
    name: 'mtc-hunting-quarantined-mail-from-new-sender-domains'
    displayName: 'Quarantined or dropped mail from sender domains new in 14 days (message trace)'
    description: 'Inbound mail of the last day that Exchange Online quarantined or dropped, from sender domains that sent no inbound mail in the 14 days before; shows how much of their mail was delivered.'
    tactics: 'InitialAccess'
    techniques: 'T1566'
    query: loadTextContent('../kql/hunting-quarantined-mail-from-new-sender-domains.kql')
  }
  {
    name: 'mtc-hunting-outbound-mail-spike-per-sender'
    displayName: 'Outbound mail spike per sender (message trace)'
    description: 'Senders whose outbound mail of the last day is more than ten times their daily average of the 14 days before: a compromised mailbox sending spam or phishing, or data leaving.'
    tactics: 'Exfiltration,Impact'
    techniques: 'T1114,T1534'
    query: loadTextContent('../kql/hunting-outbound-mail-spike-per-sender.kql')
  }
]

resource hunting 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = [for q in huntingQueries: {
  parent: workspace
  name: q.name
  properties: {
    category: 'Hunting Queries'
    displayName: q.displayName
    query: q.query
    version: 2
    tags: [
      { name: 'description', value: q.description }
      { name: 'tactics', value: q.tactics }
      { name: 'techniques', value: q.techniques }
    ]
  }
  dependsOn: [vimParser]
}]

// One KQL tile of the workbook, over the workspace.
func workspaceTile(name string, title string, query string, visualization string) object => {
  type: 3
  name: name
  content: {
    version: 'KqlItem/1.0'
    title: title
    query: query
    size: 0
    queryType: 0
    resourceType: 'microsoft.operationalinsights/workspaces'
    visualization: visualization
  }
}

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'intro'
      content: {
        json: '## Exchange Online message trace (${environmentName})\nRows collected by message-trace-collector into MessageTrace_CL, through the ASIM Email Event parser vimEmailEventMicrosoftMessageTrace; the last two tiles read the detail events in MessageTraceDetail_CL. docs/siem/sentinel.md.'
      }
    }
    {
      type: 9
      name: 'parameters'
      content: {
        version: 'KqlParameterItem/1.0'
        parameters: [
          {
            id: 'a3d0c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d'
            version: 'KqlParameterItem/1.0'
            name: 'selectedTab'
            type: 1
            isHiddenWhenLocked: true
            value: 'mailflow'
          }
        ]
        style: 'pills'
        queryType: 0
        resourceType: 'microsoft.operationalinsights/workspaces'
      }
    }
    {
      type: 11
      name: 'tabs'
      content: {
        version: 'LinkItem/1.0'
        style: 'tabs'
        links: [
          {
            id: 'mailflow'
            cellValue: 'selectedTab'
            linkTarget: 'parameter'
            linkLabel: 'Mail flow (ASIM)'
            subTarget: 'mailflow'
            style: 'link'
          }
        ]
      }
    }
    {
      type: 12
      name: 'mailflow'
      conditionalVisibility: {
        parameterName: 'selectedTab'
        comparison: 'isEqualTo'
        value: 'mailflow'
      }
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        items: [
          workspaceTile('failed-today', 'Failed, quarantined or dropped today', loadTextContent('../kql/workbook-failed-or-quarantined-today.kql'), 'table')
          workspaceTile('by-location', 'Messages per hour by delivery location (last day)', loadTextContent('../kql/workbook-mail-by-delivery-location.kql'), 'timechart')
          workspaceTile('blocked-domains', 'Sender domains with the most quarantined or dropped mail (7 days)', loadTextContent('../kql/workbook-top-blocked-sender-domains.kql'), 'table')
          workspaceTile('failures-by-status', 'Why mail failed today: SMTP status of the Fail steps (detail events)', loadTextContent('../kql/workbook-failures-by-smtp-status.kql'), 'table')
          workspaceTile('top-rules', 'Transport and DLP rules that acted on the most mail (7 days, detail events)', loadTextContent('../kql/workbook-top-rules.kql'), 'table')
        ]
      }
    }
  ]
  fallbackResourceIds: [
    workspace.id
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, workspace.id, 'mtc-sentinel-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Exchange Online message trace (${environmentName})'
    category: 'sentinel'
    sourceId: workspace.id
    serializedData: string(workbookContent)
    version: '1.0'
  }
  dependsOn: [vimParser]
}

output parserName string = vimParser.name
output workbookName string = workbook.name
