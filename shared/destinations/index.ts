/**
 * The destination registry. Adding a destination type means one folder (config.ts with its
 * DestinationSpec, destination.ts) and one line in DESTINATION_SPECS (plus its config type in the
 * DestinationConfig union of shared/config/types.ts).
 */
import type { SecretSource } from '../auth/secrets';
import type { DestinationConfig } from '../config/types';
import type { DestinationSpec } from './config-common';
import type { Destination } from './destination';
import { azureBlobSpec } from './azure-blob/config';
import { azureMonitorSpec } from './azure-monitor/config';
import { criblSpec } from './cribl/config';
import { datadogSpec } from './datadog/config';
import { elasticSpec } from './elastic/config';
import { fileSpec } from './file/config';
import { googleSecOpsSpec } from './google-secops/config';
import { httpSpec } from './http/config';
import { splunkHecSpec } from './splunk-hec/config';
import { sumoLogicSpec } from './sumo-logic/config';

export const DESTINATION_SPECS: readonly DestinationSpec[] = [
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
] as unknown as readonly DestinationSpec[];

export function destinationSpec(type: string): DestinationSpec | undefined {
  return DESTINATION_SPECS.find((s) => s.type === type);
}

export function createDestination(config: DestinationConfig, secrets: SecretSource): Destination {
  const spec = destinationSpec(config.type);
  if (!spec) throw new TypeError(`createDestination: unknown destination type "${String(config.type)}"`);
  return spec.create(config, secrets);
}

export type { Destination, SendContext } from './destination';
