/** `azure-blob`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { azureBlobConfig, type AzureBlobDestinationConfig } from './config';
import { AzureBlobDestination } from './destination';

export const azureBlobSpec: DestinationSpec<AzureBlobDestinationConfig> = { ...azureBlobConfig, create: (config, secrets) => new AzureBlobDestination(config, secrets) };
