/**
 * `azure-monitor`: Azure Monitor Logs Ingestion API (Log Analytics / Microsoft Sentinel custom table
 * through a DCR), with the managed identity. Options: docs/destinations.md#azure-monitor.
 */
import { z } from 'zod';
import { guidField, intField, durationField } from '../../config-common/fields';
import type { DestinationCommonConfig } from '../config-common';
import { checkHttpUrl, parseEntry } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';
import { MINUTE_MS, SECOND_MS } from '../../time/expressions';

export interface AzureMonitorDestinationConfig extends DestinationCommonConfig {
  type: 'azure-monitor';
  /** The DCR's logs ingestion endpoint (or a DCE), https. */
  endpoint: string;
  /** Immutable id of the DCR, dcr-<32 hex>. */
  ruleId: string;
  /** Stream declared in the DCR, Custom-<Table>. */
  streamName: string;
  managedIdentityClientId?: string;
  /** Token audience for sovereign clouds, e.g. https://monitor.azure.us */
  audience?: string;
  /** The API accepts 1 MB per call. */
  maxBatchBytes: number;
  maxBatchRecords: number;
  timeoutMs: number;
}

export const azureMonitorConfig: DestinationKind<AzureMonitorDestinationConfig> = {
  type: 'azure-monitor',
  aliases: ['sentinel', 'log-analytics', 'loganalytics'],
  example: '{"id": "sentinel", "type": "azure-monitor", "endpoint": "https://mtc-dcr-abcd.westeurope-1.ingest.monitor.azure.com", "ruleId": "dcr-00000000000000000000000000000000", "streamName": "Custom-MessageTrace_CL"}',
  parse(raw, path, keyVaultUri, out) {
    const before = out.issues.length;
    const entry = parseEntry(raw, path, out, {
      type: 'azure-monitor', keyVaultUri, defaultFormat: 'sentinel',
      aliases: { dceEndpoint: 'endpoint', dce: 'endpoint', url: 'endpoint', dcrImmutableId: 'ruleId', dcrId: 'ruleId', immutableId: 'ruleId', stream: 'streamName', clientId: 'managedIdentityClientId' },
      shape: {
        endpoint: z.string({ error: 'must be the logs ingestion endpoint of the DCR, e.g. "https://mtc-dcr-abcd.westeurope-1.ingest.monitor.azure.com"' }),
        ruleId: z.string({ error: 'must be the immutable id of the DCR, "dcr-" and 32 hex digits' }).regex(/^dcr-[0-9a-f]{32}$/, { error: 'must be the immutable id of the DCR (not its resource id): "dcr-" and 32 hex digits, shown as "immutableId" in the DCR\'s JSON view' }),
        streamName: z.string({ error: 'must be the stream declared in the DCR, e.g. "Custom-MessageTrace_CL"' }).regex(/^Custom-[A-Za-z0-9_]{1,100}$/, { error: 'must be a custom stream declared in the DCR: "Custom-" and the stream name, e.g. "Custom-MessageTrace_CL"' }).default('Custom-MessageTrace_CL'),
        managedIdentityClientId: guidField('client id of the user-assigned managed identity').optional(),
        audience: z.string({ error: 'must be the Azure Monitor audience, e.g. "https://monitor.azure.us"' }).regex(/^https:\/\/[a-z0-9.-]+\/?$/, { error: 'must be the Azure Monitor audience, e.g. "https://monitor.azure.us"' }).optional(),
        maxBatchBytes: intField(1024, 1_000_000, 1_000_000).default(1_000_000),
        maxBatchRecords: intField(1, 100_000, 5000).default(5000),
        timeout: durationField(SECOND_MS, 10 * MINUTE_MS, '30s').prefault('30s'),
      },
    });
    const endpoint = typeof raw.endpoint === 'string' ? checkHttpUrl(raw.endpoint, false, [...path, 'endpoint'], out, 'https://mtc-dcr-abcd.westeurope-1.ingest.monitor.azure.com') : undefined;
    if (!entry || endpoint === undefined || out.issues.length > before) return undefined;
    const d = entry.data;
    return {
      ...entry.common, type: 'azure-monitor', endpoint: endpoint.replace(/\/+$/, ''), ruleId: d.ruleId, streamName: d.streamName,
      maxBatchBytes: d.maxBatchBytes, maxBatchRecords: d.maxBatchRecords, timeoutMs: d.timeout,
      ...(d.managedIdentityClientId ? { managedIdentityClientId: d.managedIdentityClientId } : {}),
      ...(d.audience ? { audience: d.audience.replace(/\/+$/, '') } : {}),
    };
  },
};
