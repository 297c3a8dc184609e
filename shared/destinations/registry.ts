/**
 * The destination registry: one line per destination folder. Adding a destination type is one
 * folder shared/destinations/<type>/ (config.ts exporting its DestinationSpec, destination.ts,
 * README.md) and one line in DESTINATIONS; the DestinationConfig union follows from this list.
 */
import type { SecretSource } from '../auth/secrets';
import type { DestinationSpec } from './config-common';
import type { Destination } from './destination';
import { azureBlobSpec } from './azure-blob/factory';
import { azureMonitorSpec } from './azure-monitor/factory';
import { criblSpec } from './cribl/factory';
import { datadogSpec } from './datadog/factory';
import { elasticSpec } from './elastic/factory';
import { fileSpec } from './file/factory';
import { googleSecOpsSpec } from './google-secops/factory';
import { httpSpec } from './http/factory';
import { splunkHecSpec } from './splunk-hec/factory';
import { sumoLogicSpec } from './sumo-logic/factory';

export const DESTINATIONS = [
  httpSpec,
  fileSpec,
  splunkHecSpec,
  sumoLogicSpec,
  elasticSpec,
  criblSpec,
  datadogSpec,
  azureMonitorSpec,
  azureBlobSpec,
  googleSecOpsSpec,
] as const;

/** Every destination type's config (one per entry of DESTINATIONS). */
export type DestinationConfig = (typeof DESTINATIONS)[number] extends infer S ? (S extends DestinationSpec<infer C> ? C : never) : never;

/** The registry with its config types erased, for dispatch on `type`. */
export const DESTINATION_SPECS: readonly DestinationSpec[] = DESTINATIONS as unknown as readonly DestinationSpec[];

export function destinationSpec(type: string): DestinationSpec | undefined {
  return DESTINATION_SPECS.find((s) => s.type === type);
}

export function createDestination(config: DestinationConfig, secrets: SecretSource): Destination {
  const spec = destinationSpec(config.type);
  if (!spec) throw new TypeError(`createDestination: unknown destination type "${String(config.type)}"`);
  return spec.create(config, secrets);
}
