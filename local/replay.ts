/** The old entry of `npm run replay`; now `mtc replay` (cli/replay.ts), which this runs. */
import { main } from '../cli/mtc';

main(['replay', ...process.argv.slice(2)]).then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`mtc replay: ${(err as Error).message}\n`);
  process.exit(1);
});
