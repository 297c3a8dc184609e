// Links the workspace to its workspace transformation rule (defaultDataCollectionRuleResourceId).
// The rule names the workspace as its destination, so it can only be created after the workspace;
// the link is a second declaration of the same workspace in this nested deployment, with the
// properties modules/monitoring.bicep created it with (modules/workspace-properties.bicep).
import { workspaceProperties } from 'workspace-properties.bicep'

param name string
param location string
param tags object = {}
param retentionInDays int
param dataCollectionRuleId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: name
  location: location
  tags: tags
  properties: union(workspaceProperties(retentionInDays), {
    defaultDataCollectionRuleResourceId: dataCollectionRuleId
  })
}
