/**
 * The composition of the collector's components: the registries handed to the config loader, and
 * the types that follow from them. shared/config/ never imports this module or a component;
 * everything that needs the concrete configuration (runtime, command line, tests) imports it here.
 */
import type { IssueCollector, Path } from './config-common/issues';
import { parseDestination as parseDestinationOf } from './config/destination';
import { createConfigLoader, type LoadedConfig as LoadedConfigOf, type ParsedConfig as ParsedConfigOf } from './config/load';
import type { CollectorConfigOf, SourceConfigOf } from './config/types';
import { AUTH_METHODS, type SourceAuth } from './auth/registry';
import { DESTINATIONS, type DestinationConfig } from './destinations/registry';

export type { DestinationConfig } from './destinations/registry';
export type { SourceAuth } from './auth/registry';
export type SourceConfig = SourceConfigOf<SourceAuth>;
export type CollectorConfig = CollectorConfigOf<SourceAuth, DestinationConfig>;
export type LoadedConfig = LoadedConfigOf<SourceAuth, DestinationConfig>;
export type ParsedConfig = ParsedConfigOf<SourceAuth, DestinationConfig>;
export type { ParseConfigOptions } from './config/load';
export { ConfigError } from './config-common/issues';

export const { parseConfig, loadConfigFromEnvironment, loadConfigFile } = createConfigLoader<SourceAuth, DestinationConfig>({ authMethods: AUTH_METHODS, destinations: DESTINATIONS });

/** Checks one `destinations` entry against the registry, as the loader does. */
export const parseDestination = (raw: unknown, path: Path, keyVaultUri: string | undefined, out: IssueCollector): DestinationConfig | undefined =>
  parseDestinationOf<DestinationConfig>(raw, path, keyVaultUri, out, DESTINATIONS);
