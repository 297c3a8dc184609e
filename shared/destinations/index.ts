/** The destinations' public surface: the registry (./registry.ts) and the Destination interface. */
export { createDestination, DESTINATIONS, destinationSpec, type DestinationConfig } from './registry';
export type { Destination, SendContext } from './destination';
