/**
 * Application Insights 3.x for the worker process. `startTelemetry()` runs first thing in the
 * Functions entry (functions/index.ts), before any other import, so its OpenTelemetry
 * instrumentation sees `got`, the Azure SDKs and http. With local auth disabled on the App
 * Insights resource, ingestion authenticates with the app's managed identity.
 * Without APPLICATIONINSIGHTS_CONNECTION_STRING (local runs, tests) nothing is started.
 */
import type { Logger } from './log';

interface AppInsightsClient {
  trackEvent(e: { name: string; properties?: Record<string, string> }): void;
}

let client: AppInsightsClient | undefined;

export function startTelemetry(env: NodeJS.ProcessEnv = process.env): boolean {
  if (client || !env.APPLICATIONINSIGHTS_CONNECTION_STRING) return Boolean(client);
  // Loaded only when configured: it patches modules as it loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ai = require('applicationinsights') as typeof import('applicationinsights');
  const setup = ai.setup(env.APPLICATIONINSIGHTS_CONNECTION_STRING).setAutoCollectConsole(false).setSendLiveMetrics(false);
  if (env.AZURE_CLIENT_ID && /Authorization=AAD/i.test(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '')) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
    ai.defaultClient.config.aadTokenCredential = new ManagedIdentityCredential({ clientId: env.AZURE_CLIENT_ID });
  }
  setup.start();
  client = ai.defaultClient as unknown as AppInsightsClient;
  return true;
}

/** A custom event: to Application Insights when it is started, else a log line. */
export function emitCustomEvent(name: string, properties: Record<string, string>, log: Logger): void {
  if (client) client.trackEvent({ name, properties });
  else log.log('debug', `event ${name}`, properties);
}
