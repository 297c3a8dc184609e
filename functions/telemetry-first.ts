/** Imported first by functions/index.ts: Application Insights must start before anything it instruments loads. */
import { startTelemetry } from '../shared/telemetry-setup';

startTelemetry();
