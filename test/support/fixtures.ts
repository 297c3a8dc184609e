/** Builders for configuration objects in tests. */
import type { CollectorConfig, SourceConfig } from '../../shared/components';
import type { DestinationConfig } from '../../shared/destinations/registry';
import { DEFAULT_RETRY_POLICY } from '../../shared/config-common/retry';

export function sourceFixture(overrides: Partial<SourceConfig> = {}): SourceConfig {
  return {
    id: 'contoso',
    enabled: true,
    tenantId: '11111111-2222-3333-4444-555555555555',
    cloud: 'custom',
    endpoints: { authorityHost: 'https://127.0.0.1:1', graphBaseUrl: 'https://127.0.0.1:1', graphScope: 'https://graph.microsoft.com/.default' },
    api: 'graph',
    graphApiVersion: 'v1.0',
    auth: { method: 'clientSecret', clientId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', clientSecret: { kind: 'env', name: 'MTC_TEST_SECRET' } },
    start: { kind: 'relative', text: '-1d' },
    collectionDelayMs: 10 * 60_000,
    sliceMs: 3600_000,
    pageSize: 5000,
    pollIntervalMs: 60_000,
    fields: {},
    retry: DEFAULT_RETRY_POLICY,
    requestTimeoutMs: 300_000,
    nextLinkFailureLimit: 3,
    logLevel: 'info',
    settleRereadsMs: [],
    settleBucketMs: 3600_000,
    destinations: ['out'],
    ...overrides,
  };
}

export function configFixture(sources: SourceConfig[], destinations: DestinationConfig[]): CollectorConfig {
  return { sources, destinations };
}
