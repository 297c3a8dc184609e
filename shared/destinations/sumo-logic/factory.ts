/** `sumo-logic`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { sumoLogicConfig, type SumoLogicDestinationConfig } from './config';
import { SumoLogicDestination } from './destination';

export const sumoLogicSpec: DestinationSpec<SumoLogicDestinationConfig> = { ...sumoLogicConfig, create: (config, secrets) => new SumoLogicDestination(config, secrets) };
