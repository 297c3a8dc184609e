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
import './replay';
import './diagnose';
