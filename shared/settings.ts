/**
 * Every app setting (environment variable) the collector reads, declared once. The Bicep tests
 * check that infra/ sets each required one, and the table of docs/configuration.md is generated from
 * this list (shared/reference-docs.ts; descriptions are Markdown).
 */
export interface AppSetting {
  name: string;
  /** Required in Azure (the Bicep must set it). Locally, `npm start` provides defaults. */
  requiredInAzure: boolean;
  description: string;
}

export const APP_SETTINGS: readonly AppSetting[] = [
  { name: 'MTC_CONFIG', requiredInAzure: false, description: 'The configuration document as JSON text. One of `MTC_CONFIG` or `MTC_CONFIG_PATH` must be set.' },
  { name: 'MTC_CONFIG_PATH', requiredInAzure: false, description: 'Path of a file holding the configuration document.' },
  { name: 'MTC_PLAN_SCHEDULE', requiredInAzure: true, description: 'NCRONTAB schedule of the planner timer (default every minute: `0 */1 * * * *`).' },
  { name: 'MTC_PAGE_QUEUE', requiredInAzure: true, description: 'Name of the page-job queue (`page-jobs`). Its poison queue is `<name>-poison`. The queue trigger binds to it as `%MTC_PAGE_QUEUE%`.' },
  { name: 'MTC_TABLE_PREFIX', requiredInAzure: false, description: 'Prefix of the state tables (default `mtc`).' },
  { name: 'MTC_BUDGET_LIMIT', requiredInAzure: false, description: 'Message trace requests allowed per tenant per window (default 100, the Graph limit).' },
  { name: 'MTC_BUDGET_WINDOW_SECONDS', requiredInAzure: false, description: 'The rolling window of that limit in seconds (default 300).' },
  { name: 'MTC_BUDGET_HEADROOM', requiredInAzure: false, description: 'Share of the limit left for admins and other tools, from 0 to below 1 (default 0.1: the collector uses at most 90 of 100).' },
  { name: 'MTC_CLAIM_TTL_SECONDS', requiredInAzure: false, description: 'How long a page claim lives without renewal (default 60); its holder renews it every third of that while it works, and a dead holder\'s page is taken over after it.' },
  { name: 'MTC_OUTBOX_STALE_SECONDS', requiredInAzure: false, description: 'Age after which a planner relays the outbox of a planner that died mid-run (default 120).' },
  { name: 'JobsStorage', requiredInAzure: false, description: 'Connection string of the storage account for queues and tables (local and Azurite). In Azure use the identity-based `JobsStorage__*` settings instead.' },
  { name: 'JobsStorage__queueServiceUri', requiredInAzure: true, description: 'Queue endpoint of the jobs storage account (identity-based connection).' },
  { name: 'JobsStorage__tableServiceUri', requiredInAzure: true, description: 'Table endpoint of the jobs storage account (identity-based connection).' },
  { name: 'JobsStorage__blobServiceUri', requiredInAzure: true, description: 'Blob endpoint of the jobs storage account (identity-based connection).' },
  { name: 'JobsStorage__credential', requiredInAzure: true, description: '`managedidentity`: the connection uses the app identity.' },
  { name: 'JobsStorage__clientId', requiredInAzure: true, description: 'Client id of the user-assigned managed identity used for the jobs storage.' },
  { name: 'AZURE_CLIENT_ID', requiredInAzure: true, description: 'Client id of the user-assigned managed identity, used by `DefaultAzureCredential` (Key Vault, storage).' },
  { name: 'AZURE_TOKEN_CREDENTIALS', requiredInAzure: true, description: '`ManagedIdentityCredential`: `DefaultAzureCredential` goes straight to the managed identity in Azure.' },
  { name: 'KEY_VAULT_URI', requiredInAzure: true, description: 'Default Key Vault for secret references written as `kv:<name>`, e.g. `https://mtc-kv.vault.azure.net`.' },
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', requiredInAzure: true, description: 'Application Insights connection string.' },
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', requiredInAzure: true, description: '`ClientId=<uami client id>;Authorization=AAD`, for Entra-only ingestion.' },
];
