/** `cribl`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { criblConfig, type CriblDestinationConfig } from './config';
import { CriblDestination } from './destination';

export const criblSpec: DestinationSpec<CriblDestinationConfig> = { ...criblConfig, create: (config, secrets) => new CriblDestination(config, secrets) };
