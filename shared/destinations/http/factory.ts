/** `http`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { httpConfig, type HttpDestinationConfig } from './config';
import { HttpDestination } from './destination';

export const httpSpec: DestinationSpec<HttpDestinationConfig> = { ...httpConfig, create: (config, secrets) => new HttpDestination(config, secrets) };
