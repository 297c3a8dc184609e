/**
 * The old entry of `npm run diagnose`; now `mtc diagnose` (cli/diagnose.ts). Kept so scripts that
 * run `node dist/shared/diagnostics/diagnose-cli.js <source> …` keep working: it runs `mtc diagnose`.
 */
export { formatDiagnosis } from '../../cli/diagnose';

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { main } = require('../../cli/mtc') as typeof import('../../cli/mtc');
  main(['diagnose', ...process.argv.slice(2)]).then((code) => process.exit(code), (err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}
