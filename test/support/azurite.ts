/**
 * Azurite for tests: a real storage emulator from npm, started on free ports with in-memory
 * persistence, and stopped afterwards. No global install, no Docker, no fixed ports.
 *
 * `scripts/run-tests.js` starts one instance for the whole suite and passes its connection string
 * in MTC_TEST_STORAGE. A test file run on its own starts a private instance through
 * `testStorage()`. Tests isolate themselves with unique queue and table names.
 *
 * The implementation lives in local/azurite.ts, because `npm start` embeds Azurite too.
 */
export {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  connectionStringFor,
  startAzurite,
  stopTestStorage,
  testStorage,
  uniqueName,
} from '../../local/azurite';
export type { RunningAzurite, AzuritePorts, StartAzuriteOptions } from '../../local/azurite';
