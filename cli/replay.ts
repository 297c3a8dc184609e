/** `mtc replay --from <archive> --to <destination> [--source <id>] [--config <file>]`: re-sends a blob archive. */
import { DefaultSecretSource } from '../shared/auth/secrets';
import { createDestination } from '../shared/destinations';
import { AzureBlobDestination } from '../shared/destinations/azure-blob/destination';
import { replayArchive } from '../shared/destinations/azure-blob/replay';
import { loadCommandConfig } from './config';
import { UsageError, type Io } from './io';

export interface ReplayArgs { from: string; to: string; source?: string; config?: string }

export async function replayCommand(a: ReplayArgs, io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const { config } = loadCommandConfig(a.config, env);
  const archiveConfig = config.destinations.find((d) => d.id === a.from);
  const target = config.destinations.find((d) => d.id === a.to);
  const ids = config.destinations.map((d) => `"${d.id}" (${d.type})`).join(', ') || '(none)';
  if (!archiveConfig || archiveConfig.type !== 'azure-blob') throw new UsageError(`--from: "${a.from}" is not an azure-blob destination of the configuration; its destinations are ${ids}`);
  if (!target) throw new UsageError(`--to: "${a.to}" is not a destination of the configuration; its destinations are ${ids}`);
  const secrets = new DefaultSecretSource(env);
  const result = await replayArchive({
    archive: new AzureBlobDestination(archiveConfig, secrets),
    archiveConfig,
    to: createDestination(target, secrets),
    ...(a.source ? { sourceId: a.source } : {}),
    onPage: ({ blob, events }) => io.out(`replayed ${events} events from ${blob}`),
  });
  io.out(`replay done: ${result.pages} pages, ${result.events} events from "${a.from}" to "${a.to}"`);
  return 0;
}
