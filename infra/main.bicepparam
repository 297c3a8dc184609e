// Parameters for the az CLI (and Azure PowerShell) path, read from environment variables with the
// same names azd uses in main.parameters.json, so one set of variables serves both:
//   export AZURE_ENV_NAME=mtc-prod MTC_CONFIG_BASE64="$(base64 -w0 config.json)"
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
// The az CLI compiles this file with `bicep build-params` (CI does the same, test/infra).
// The region is the resource group's.
using './main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME')
param mtcConfigBase64 = readEnvironmentVariable('MTC_CONFIG_BASE64', '')
param expectedTenantCount = int(readEnvironmentVariable('MTC_EXPECTED_TENANT_COUNT', '24'))
param alertEmail = readEnvironmentVariable('MTC_ALERT_EMAIL', '')
param secretsOfficerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param secretsOfficerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
param networkIsolation = bool(readEnvironmentVariable('MTC_NETWORK_ISOLATION', 'false'))
param diagnosticSettings = bool(readEnvironmentVariable('MTC_DIAGNOSTIC_SETTINGS', 'true'))
param storageLogsPlan = readEnvironmentVariable('MTC_STORAGE_LOGS_PLAN', 'Basic')
param storageLogsCollectorRequests = bool(readEnvironmentVariable('MTC_STORAGE_LOGS_COLLECTOR_REQUESTS', 'false'))
param entraAuthClientId = readEnvironmentVariable('MTC_ENTRA_AUTH_CLIENT_ID', '')
param deployLogsIngestion = bool(readEnvironmentVariable('MTC_DEPLOY_LOGS_INGESTION', 'false'))
