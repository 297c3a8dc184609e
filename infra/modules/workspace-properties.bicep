// The Log Analytics workspace's properties, in one place: modules/monitoring.bicep creates the
// workspace with them, and modules/workspace-link.bicep declares it again with the same properties
// plus its workspace transformation rule (a PUT replaces every property, so both must agree;
// test/infra/bicep-policy.test.ts compares the two declarations).

@export()
@description('Properties of the collector\'s workspace: Entra ID ingestion only, resource-context access, and the given retention.')
func workspaceProperties(retentionInDays int) object => {
  sku: {
    name: 'PerGB2018'
  }
  retentionInDays: retentionInDays
  features: {
    enableLogAccessUsingOnlyResourcePermissions: true
    disableLocalAuth: true
  }
}
