/** Builds destinations from config. Adding a destination type means one module and one line here. */
import type { DestinationConfig } from '../config/types';
import type { SecretSource } from '../auth/secrets';
import type { Destination } from './destination';
import { FileDestination } from './file';
import { HttpDestination } from './http';

export function createDestination(config: DestinationConfig, secrets: SecretSource): Destination {
  switch (config.type) {
    case 'http':
      return new HttpDestination(config, secrets);
    case 'file':
      return new FileDestination(config);
  }
}
