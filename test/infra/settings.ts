/**
 * The parameter sets the infra tests compile infra/main.bicep with (bicep snapshot, test/infra/arm.ts).
 *   DEFAULT      every parameter at its default, as `azd up` with no extra variables deploys it
 *   LOCKED_DOWN  every locked-down option on: network isolation, Entra authentication, storage
 *                reads and the collector's own requests logged (on the Analytics table plan), plus the optional parts (logs ingestion, alerts e-mail, secrets officer)
 *   NO_DIAGNOSTICS  the default with diagnostic settings off (the one option that defaults to on)
 */
export const ENTRA_CLIENT_ID = '11111111-2222-3333-4444-555555555555';
export const CALLER_CLIENT_ID = '66666666-7777-8888-9999-000000000000';
export const OFFICER_ID = '99999999-8888-7777-6666-555555555555';

export const DEFAULT = { environmentName: 'ci' } as const;

export const LOCKED_DOWN = {
  environmentName: 'ci',
  networkIsolation: true,
  diagnosticSettings: true,
  diagnosticStorageReads: true,
  storageLogsPlan: 'Analytics',
  storageLogsCollectorRequests: true,
  entraAuthClientId: ENTRA_CLIENT_ID,
  entraAuthAllowedClientIds: [CALLER_CLIENT_ID],
  deployLogsIngestion: true,
  alertEmail: 'ops@example.com',
  secretsOfficerPrincipalId: OFFICER_ID,
  secretsOfficerPrincipalType: 'Group',
  // One Key Vault reference, and one that tries to replace a collector setting (it must not win).
  keyVaultReferenceSettings: { SPLUNK_HEC_TOKEN: 'splunk-hec-token', MTC_PLAN_SCHEDULE: 'not-a-schedule' },
} as const;

export const NO_DIAGNOSTICS = { environmentName: 'ci', diagnosticSettings: false } as const;
