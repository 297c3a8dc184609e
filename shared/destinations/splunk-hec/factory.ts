/** `splunk-hec`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { splunkHecConfig, type SplunkHecDestinationConfig } from './config';
import { SplunkHecDestination } from './destination';

export const splunkHecSpec: DestinationSpec<SplunkHecDestinationConfig> = { ...splunkHecConfig, create: (config, secrets) => new SplunkHecDestination(config, secrets) };
