/**
 * The old entry of `npm start`; now `mtc start` (cli/start.ts). Kept so scripts that run
 * `node dist/local/cli.js --config … --once` keep working: it runs `mtc start` with those options.
 */
import { main } from '../cli/mtc';

main(['start', ...process.argv.slice(2)]).then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`mtc start: ${(err as Error).message}\n`);
  process.exit(1);
});
