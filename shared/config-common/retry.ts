/**
 * The retry policy, per source and per destination, with the options Cribl users know: backoff,
 * static or none; initial interval; multiplier; maximum interval; retry horizon (default 90 minutes,
 * as in the Sumo Logic source); the status codes that are retried; and a cap on Retry-After.
 */
import { z } from 'zod';
import { HOUR_MS, MINUTE_MS, SECOND_MS, DAY_MS } from '../time/expressions';
import { durationField } from './fields';
import type { RetryPolicyConfig } from './types';

export const RETRY_DEFAULTS = {
  mode: 'backoff',
  initialInterval: '5s',
  multiplier: 2,
  maxInterval: '10m',
  horizon: '90m',
  retryAfterCap: '15m',
  statusCodes: [429, 500, 502, 503, 504],
} as const;

export const RETRY_FIELDS = ['mode', 'initialInterval', 'multiplier', 'maxInterval', 'horizon', 'retryAfterCap', 'statusCodes'];
/** Names users of other products write for the retry options. */
export const RETRY_ALIASES: Record<string, string> = { backoff: 'mode', type: 'mode', interval: 'initialInterval', maxBackoff: 'maxInterval', retryTimeout: 'horizon', codes: 'statusCodes' };

export const retrySchema = z.object(
  {
    mode: z.enum(['backoff', 'static', 'none'], { error: 'must be "backoff" (the default), "static" or "none"' }).default(RETRY_DEFAULTS.mode),
    initialInterval: durationField(SECOND_MS, HOUR_MS, '5s').prefault(RETRY_DEFAULTS.initialInterval),
    multiplier: z.number({ error: 'must be a number from 1 to 10 (e.g. 2)' }).min(1, { error: 'must be a number from 1 to 10 (e.g. 2)' }).max(10, { error: 'must be a number from 1 to 10 (e.g. 2)' }).default(RETRY_DEFAULTS.multiplier),
    maxInterval: durationField(SECOND_MS, 6 * HOUR_MS, '10m').prefault(RETRY_DEFAULTS.maxInterval),
    horizon: durationField(MINUTE_MS, 7 * DAY_MS, '90m').prefault(RETRY_DEFAULTS.horizon),
    retryAfterCap: durationField(SECOND_MS, 6 * HOUR_MS, '15m').prefault(RETRY_DEFAULTS.retryAfterCap),
    statusCodes: z
      .array(
        z.number({ error: 'must be an HTTP status code from 400 to 599, e.g. 503' })
          .int({ error: 'must be an HTTP status code from 400 to 599, e.g. 503' })
          .min(400, { error: 'must be an HTTP status code from 400 to 599, e.g. 503' })
          .max(599, { error: 'must be an HTTP status code from 400 to 599, e.g. 503' }),
        { error: 'must be a list of HTTP status codes from 400 to 599, e.g. [429, 500, 502, 503, 504]' },
      )
      .default([...RETRY_DEFAULTS.statusCodes]),
  },
  { error: 'must be an object such as {"mode": "backoff", "initialInterval": "5s", "multiplier": 2, "maxInterval": "10m", "horizon": "90m"}' },
);

export function toRetryPolicy(p: z.infer<typeof retrySchema>): RetryPolicyConfig {
  return {
    mode: p.mode,
    initialMs: p.initialInterval,
    multiplier: p.multiplier,
    maxMs: Math.max(p.maxInterval, p.initialInterval),
    horizonMs: p.horizon,
    retryAfterCapMs: p.retryAfterCap,
    statusCodes: [...new Set(p.statusCodes)].sort((a, b) => a - b),
  };
}

export const DEFAULT_RETRY_POLICY: RetryPolicyConfig = toRetryPolicy(retrySchema.parse({}));
