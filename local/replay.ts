/**
 * `npm run replay -- --from <archive-destination-id> --to <destination-id> [--source <source-id>]`
 * Re-sends a blob archive (an `azure-blob` destination) to another configured destination. The
 * configuration comes from MTC_CONFIG or MTC_CONFIG_PATH, secrets from the environment / Key Vault,
 * as for `npm start`.
 */
import { DefaultSecretSource } from '../shared/auth/secrets';
import { loadConfigFromEnvironment } from '../shared/config/load';
import { createDestination } from '../shared/destinations';
import { AzureBlobDestination } from '../shared/destinations/azure-blob/destination';
import { replayArchive } from '../shared/destinations/azure-blob/replay';

const USAGE = 'usage: npm run replay -- --from <archive-destination-id> --to <destination-id> [--source <source-id>]';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const from = arg('from');
  const to = arg('to');
  if (!from || !to) {
    console.error(USAGE);
    return 2;
  }
  const { config } = loadConfigFromEnvironment(process.env);
  const archiveConfig = config.destinations.find((d) => d.id === from);
  const target = config.destinations.find((d) => d.id === to);
  if (!archiveConfig || archiveConfig.type !== 'azure-blob') {
    console.error(`--from: "${from}" is not an azure-blob destination of the configuration; ${USAGE}`);
    return 2;
  }
  if (!target) {
    console.error(`--to: "${to}" is not a destination of the configuration; ${USAGE}`);
    return 2;
  }
  const secrets = new DefaultSecretSource(process.env);
  const result = await replayArchive({
    archive: new AzureBlobDestination(archiveConfig, secrets),
    archiveConfig,
    to: createDestination(target, secrets),
    ...(arg('source') ? { sourceId: arg('source')! } : {}),
    onPage: ({ blob, events }) => console.log(`replayed ${events} events from ${blob}`),
  });
  console.log(`replay done: ${result.pages} pages, ${result.events} events from "${from}" to "${to}"`);
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`replay failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
