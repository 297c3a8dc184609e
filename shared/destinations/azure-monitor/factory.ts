/** `azure-monitor`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { azureMonitorConfig, type AzureMonitorDestinationConfig } from './config';
import { AzureMonitorDestination } from './destination';

export const azureMonitorSpec: DestinationSpec<AzureMonitorDestinationConfig> = { ...azureMonitorConfig, create: (config, secrets) => new AzureMonitorDestination(config, secrets) };
