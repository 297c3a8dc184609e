/**
 * The Functions entry point (`package.json` main). It loads every function module; each registers
 * itself with the host. Functions are thin adapters: all logic lives in shared/.
 */
import './telemetry-first';
import './plan';
import './page-worker';
import './backfill';
import './status';
import './poison';
import './poison-sweep';
import './replay';
import './replay-destination';
import './diagnose';
import { app } from '@azure/functions';
import { getRuntime } from '../shared/runtime';
import { checkDestinations } from '../shared/destinations/health-check';

// Check every destination once at start-up: a failing check is reported as health, not retried.
app.hook.appStart(async () => {
  const rt = await getRuntime().catch(() => undefined);
  if (rt) await checkDestinations(rt.destinations, rt.log, rt.telemetry);
});
