/** `datadog`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { datadogConfig, type DatadogDestinationConfig } from './config';
import { DatadogDestination } from './destination';

export const datadogSpec: DestinationSpec<DatadogDestinationConfig> = { ...datadogConfig, create: (config, secrets) => new DatadogDestination(config, secrets) };
