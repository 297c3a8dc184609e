/** `google-secops`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { googleSecOpsConfig, type GoogleSecOpsDestinationConfig } from './config';
import { GoogleSecOpsDestination } from './destination';

export const googleSecOpsSpec: DestinationSpec<GoogleSecOpsDestinationConfig> = { ...googleSecOpsConfig, create: (config, secrets) => new GoogleSecOpsDestination(config, secrets) };
