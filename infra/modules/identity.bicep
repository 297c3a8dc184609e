// The one user-assigned managed identity the function app runs as (storage, Key Vault, telemetry).
// It exists before the app, so its role assignments are in place when the app first starts.
param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output name string = identity.name
output id string = identity.id
output principalId string = identity.properties.principalId
