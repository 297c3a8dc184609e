/** `elastic`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { elasticConfig, type ElasticDestinationConfig } from './config';
import { ElasticDestination } from './destination';

export const elasticSpec: DestinationSpec<ElasticDestinationConfig> = { ...elasticConfig, create: (config, secrets) => new ElasticDestination(config, secrets) };
