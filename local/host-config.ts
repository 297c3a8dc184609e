/**
 * host.json as the Functions host reads it, for the parts the local host reproduces:
 * `extensions.queues` (queue trigger behaviour), `extensions.http.routePrefix` and
 * `functionTimeout`. App settings named `AzureFunctionsJobHost__<path>` override host.json values,
 * as in Azure (https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values).
 */
import fs from 'node:fs';

export interface QueueHostOptions {
  messageEncoding: 'base64' | 'none';
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  /** Delay before a failed message is retried, in clock milliseconds. */
  visibilityTimeoutMs: number;
  /** Longest idle polling interval, in clock milliseconds. */
  maxPollingIntervalMs: number;
}

export interface HostConfig {
  routePrefix: string;
  /** host.json functionTimeout in clock milliseconds; undefined when not set. */
  functionTimeoutMs?: number;
  queues: QueueHostOptions;
}

/**
 * Parses a .NET TimeSpan string ("hh:mm:ss", "d.hh:mm:ss", "hh:mm:ss.fff") into milliseconds.
 * `field` names the setting in the error.
 */
export function parseTimeSpan(value: unknown, field: string): number {
  if (typeof value !== 'string') {
    throw new Error(`${field} must be a TimeSpan string such as "00:00:30", got ${JSON.stringify(value)}`);
  }
  const m = /^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*$/.exec(value);
  if (!m) throw new Error(`${field} must be a TimeSpan string such as "00:00:30" ([d.]hh:mm[:ss[.fff]]), got "${value}"`);
  const [, neg, d, h, mi, s, frac] = m;
  if (Number(mi) > 59 || Number(s ?? 0) > 59 || Number(h) > 23) {
    throw new Error(`${field}: "${value}" has an hour above 23 or minutes/seconds above 59`);
  }
  const ms =
    ((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(mi)) * 60000 +
    Number(s ?? 0) * 1000 +
    (frac ? Math.round(Number(`0.${frac}`) * 1000) : 0);
  if (neg) throw new Error(`${field} must not be negative, got "${value}"`);
  return ms;
}

function readIntOption(source: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const raw = source[key];
  if (raw === undefined || raw === null) return dflt;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(`host.json extensions.queues.${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Finds `key` in `obj` ignoring case (host.json keys are case-insensitive to the host). */
function getCi(obj: Record<string, unknown>, key: string): unknown {
  const k = Object.keys(obj).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : obj[k];
}

function childCi(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = getCi(obj, key);
  return isRecord(v) ? v : {};
}

/** Applies `AzureFunctionsJobHost__a__b=value` app settings onto the parsed host.json. */
export function applyHostJsonOverrides(json: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const prefix = 'azurefunctionsjobhost__';
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.toLowerCase().startsWith(prefix)) continue;
    const pathParts = name.slice(prefix.length).split('__').filter(Boolean);
    if (pathParts.length === 0) continue;
    let node = json;
    for (const part of pathParts.slice(0, -1)) {
      const existing = Object.keys(node).find((x) => x.toLowerCase() === part.toLowerCase());
      const key = existing ?? part;
      if (!isRecord(node[key])) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = pathParts[pathParts.length - 1]!;
    const existing = Object.keys(node).find((x) => x.toLowerCase() === last.toLowerCase());
    node[existing ?? last] = value;
  }
  return json;
}

/** Reads and validates host.json (plus overrides from `env`). */
export function loadHostConfig(hostJsonPath: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  let text: string;
  try {
    text = fs.readFileSync(hostJsonPath, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read host.json at ${hostJsonPath} (${(err as Error).message}); pass hostJsonPath or create host.json with {"version": "2.0"}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`host.json at ${hostJsonPath} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(parsed)) throw new Error(`host.json at ${hostJsonPath} must be a JSON object`);
  return hostConfigFromJson(applyHostJsonOverrides(parsed, env));
}

export function hostConfigFromJson(json: Record<string, unknown>): HostConfig {
  const version = getCi(json, 'version');
  if (version !== undefined && version !== '2.0') {
    throw new Error(`host.json "version" must be "2.0" for Functions v4, got ${JSON.stringify(version)}`);
  }
  const extensions = childCi(json, 'extensions');
  const queues = childCi(extensions, 'queues');
  const http = childCi(extensions, 'http');

  const encodingRaw = getCi(queues, 'messageEncoding') ?? 'base64';
  const encoding = typeof encodingRaw === 'string' ? encodingRaw.toLowerCase() : encodingRaw;
  if (encoding !== 'base64' && encoding !== 'none') {
    throw new Error(`host.json extensions.queues.messageEncoding must be "base64" or "none", got ${JSON.stringify(encodingRaw)}`);
  }
  const q: Record<string, unknown> = {};
  for (const k of ['batchSize', 'newBatchThreshold', 'maxDequeueCount']) q[k] = getCi(queues, k);
  const batchSize = readIntOption(q, 'batchSize', 16, 1, 32);
  // Default N*batchSize/2 with N = 1 vCPU (Consumption), as documented.
  const newBatchThreshold = readIntOption(q, 'newBatchThreshold', Math.floor(batchSize / 2), 0, 1000);
  const maxDequeueCount = readIntOption(q, 'maxDequeueCount', 5, 1, 1000);
  const vis = getCi(queues, 'visibilityTimeout');
  const visibilityTimeoutMs = vis === undefined ? 0 : parseTimeSpan(vis, 'host.json extensions.queues.visibilityTimeout');
  const poll = getCi(queues, 'maxPollingInterval');
  // Azure's default is 1 minute; Core Tools (local development) uses 2 seconds.
  const maxPollingIntervalMs = poll === undefined ? 2000 : parseTimeSpan(poll, 'host.json extensions.queues.maxPollingInterval');
  if (maxPollingIntervalMs < 100) throw new Error(`host.json extensions.queues.maxPollingInterval must be at least 00:00:00.1 (100 ms), got ${JSON.stringify(poll)}`);

  const prefixRaw = getCi(http, 'routePrefix');
  if (prefixRaw !== undefined && typeof prefixRaw !== 'string') {
    throw new Error(`host.json extensions.http.routePrefix must be a string ("" for none), got ${JSON.stringify(prefixRaw)}`);
  }
  const routePrefix = (prefixRaw ?? 'api').replace(/^\/+|\/+$/g, '');

  const timeoutRaw = getCi(json, 'functionTimeout');
  const functionTimeoutMs =
    timeoutRaw === undefined || timeoutRaw === null || timeoutRaw === '-1'
      ? undefined
      : parseTimeSpan(timeoutRaw, 'host.json functionTimeout');

  return {
    routePrefix,
    functionTimeoutMs,
    queues: {
      messageEncoding: encoding,
      batchSize,
      newBatchThreshold,
      maxDequeueCount,
      visibilityTimeoutMs,
      maxPollingIntervalMs,
    },
  };
}
