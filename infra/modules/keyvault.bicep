// Key Vault for the client secrets of each source and the destination tokens. Access is by Azure
// RBAC only (no access policies); the app identity gets Key Vault Secrets User (modules/rbac.bicep).
// Purge protection is always on: a deleted vault or secret stays recoverable for the retention
// period and nobody can purge it early (ARM cannot turn it off again either).
// With networkIsolation the vault takes no public traffic: the app reaches it through a private
// endpoint (modules/network.bicep), and secrets are written from a machine in that network.
param name string
param location string
param tags object = {}

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('No public network access: only the private endpoint reaches the vault.')
param networkIsolation bool = false

@description('Log Analytics workspace resource id for the audit diagnostic setting (every secret read and write). Empty: none.')
param workspaceId string = ''

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: networkIsolation ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: networkIsolation ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// AuditEvent: every authenticated or refused access to the vault's secrets (AzureDiagnostics /
// the resource-specific KeyVault tables in the workspace).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
  scope: vault
  name: 'audit-to-workspace'
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
