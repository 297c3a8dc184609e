// Flex Consumption (FC1, Linux) plan and the function app: Node 22, v4 programming model, running
// as the user-assigned identity, with identity-based storage connections and the app settings the
// code reads (declared in shared/settings.ts; test/infra checks that every requiredInAzure one is
// set here). Runtime settings such as FUNCTIONS_WORKER_RUNTIME and WEBSITE_RUN_FROM_PACKAGE are
// not app settings on Flex: functionAppConfig carries them.
param planName string
param appName string
param location string
param tags object = {}

param identityName string
param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param keyVaultName string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@secure()
@description('Configuration document (JSON text) for MTC_CONFIG.')
param mtcConfig string

param planSchedule string
param pageQueueName string
param tablePrefix string

@description('{ "<APP_SETTING_NAME>": "<secret name>" }: app settings resolved from Key Vault with the user-assigned identity.')
param keyVaultReferenceSettings object = {}

@description('Subnet (delegated to Microsoft.App/environments) for VNet integration. Empty: none.')
param appSubnetId string = ''

@description('Log Analytics workspace resource id for the FunctionAppLogs diagnostic setting. Empty: none.')
param workspaceId string = ''

@description('Client id of the Entra app registration that protects the HTTP routes (App Service authentication). Empty: function keys only.')
param entraAuthClientId string = ''

@description('Application (client) ids allowed to call the HTTP routes when Entra authentication is on. Empty: any caller with a token for the app\'s audience.')
param entraAuthAllowedClientIds array = []

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: keyVaultName
}

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

var clientId = identity.properties.clientId

// Identity-based connection settings: the same account serves the host (AzureWebJobsStorage) and
// the app's own queues and tables (JobsStorage, the connection prefix of the page-jobs trigger).
var storageConnection = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: clientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  JobsStorage__credential: 'managedidentity'
  JobsStorage__clientId: clientId
  JobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  JobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  JobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
}

var collectorSettings = {
  // DefaultAzureCredential picks the user-assigned identity from AZURE_CLIENT_ID and, with
  // AZURE_TOKEN_CREDENTIALS, tries managed identity only (no slow developer-credential probing).
  AZURE_CLIENT_ID: clientId
  AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential'
  KEY_VAULT_URI: vault.properties.vaultUri
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${clientId};Authorization=AAD'
  MTC_CONFIG: empty(mtcConfig) ? '{"sources":[],"destinations":[]}' : mtcConfig
  MTC_PLAN_SCHEDULE: planSchedule
  MTC_PAGE_QUEUE: pageQueueName
  MTC_TABLE_PREFIX: tablePrefix
}

// Key Vault references: the platform resolves them with keyVaultReferenceIdentity (the UAMI).
// The VaultName form keeps the lambda free of runtime resource properties (only parameters).
var keyVaultReferences = toObject(
  items(keyVaultReferenceSettings),
  entry => entry.key,
  entry => '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${entry.value})'
)

resource functionApp 'Microsoft.Web/sites@2025-03-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    virtualNetworkSubnetId: empty(appSubnetId) ? null : appSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(keyVaultReferences, storageConnection, collectorSettings)
  }

  // No basic-auth (publishing credential) deployments: azd and az deploy with Entra ID.
  resource ftpPolicy 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmPolicy 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }

  // App Service authentication in front of the HTTP routes: a request needs an Entra token for
  // the app registration (401 otherwise) AND the function key the routes already require
  // (authLevel 'function'). Timer and queue functions are not HTTP and are unaffected.
  resource authSettings 'config' = if (!empty(entraAuthClientId)) {
    name: 'authsettingsV2'
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: true
        unauthenticatedClientAction: 'Return401'
      }
      httpSettings: {
        requireHttps: true
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: entraAuthClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: [
              'api://${entraAuthClientId}'
              entraAuthClientId
            ]
            defaultAuthorizationPolicy: empty(entraAuthAllowedClientIds) ? null : {
              allowedApplications: entraAuthAllowedClientIds
            }
          }
        }
      }
      login: {
        tokenStore: {
          enabled: false
        }
      }
    }
  }
}

// Function execution logs (FunctionAppLogs) in the workspace, beside the Application Insights data.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
  scope: functionApp
  name: 'logs-to-workspace'
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
