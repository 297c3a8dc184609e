/** `file`: the registry entry, its config (./config.ts) and its factory (./destination.ts). */
import type { DestinationSpec } from '../config-common';
import { fileConfig, type FileDestinationConfig } from './config';
import { FileDestination } from './destination';

export const fileSpec: DestinationSpec<FileDestinationConfig> = { ...fileConfig, create: (config, secrets) => new FileDestination(config, secrets) };
