/**
 * zod builders for the field types the configuration document uses (ids, bounded integers,
 * durations, times, GUIDs, secret references). Each carries a message that starts with "must …"
 * and says how to write the value.
 */
import { z } from 'zod';
import { formatDuration, parseDuration, parseTimeSpec, TimeExpressionError } from '../time/expressions';
import { parseSecretRef, SECRET_REF_SYNTAX } from './secrets';
import type { SecretRef, TimeSpec } from './types';

export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;
export const GUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function idField(what: string) {
  const msg = `must be a ${what} id of 1-40 characters: lowercase letters, digits and dashes, starting with a letter or digit (e.g. "contoso")`;
  return z.string({ error: msg }).regex(ID_PATTERN, { error: msg });
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** A list of the tenant's accepted domains, trimmed and lowercased (mail direction). */
export function acceptedDomainsField() {
  const msg = 'must be a list of the tenant\'s accepted domains, e.g. ["contoso.com", "contoso.onmicrosoft.com"]';
  return z
    .array(z.string({ error: msg }).transform((s) => s.trim().toLowerCase().replace(/\.$/, '')).refine((s) => DOMAIN.test(s), { error: `${msg}; each a domain name without "@"` }), { error: msg })
    .default([])
    .transform((list) => [...new Set(list)]);
}

export function booleanField() {
  return z.boolean({ error: 'must be true or false (without quotes)' });
}

export function intField(min: number, max: number, example: number) {
  const msg = `must be a whole number from ${min} to ${max} (e.g. ${example})`;
  return z.number({ error: msg }).int({ error: msg }).min(min, { error: msg }).max(max, { error: msg });
}

/** A duration (see parseDuration) within [minMs, maxMs], as milliseconds. */
export function durationField(minMs: number, maxMs: number, example: string) {
  const range = minMs === 0 ? `at most ${formatDuration(maxMs)}` : `from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`;
  return z.unknown().transform((v, ctx): number => {
    if (typeof v !== 'string' && typeof v !== 'number') {
      ctx.issues.push({ code: 'custom', input: v, message: `must be a duration ${range}, e.g. "${example}"` });
      return z.NEVER;
    }
    let ms: number;
    try {
      ms = parseDuration(v, 'duration');
    } catch (err) {
      if (!(err instanceof TimeExpressionError)) throw err;
      ctx.issues.push({ code: 'custom', input: v, message: err.detail });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.issues.push({ code: 'custom', input: v, message: `is ${formatDuration(ms)}; it must be ${range}, e.g. "${example}"` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A point in time (see parseTimeSpec). */
export function timeField() {
  return z.unknown().transform((v, ctx): TimeSpec => {
    if (typeof v !== 'string' && typeof v !== 'number') {
      ctx.issues.push({ code: 'custom', input: v, message: 'must be a time such as "-2d", "-1d@d", "now" or "2026-11-01T00:00:00Z"' });
      return z.NEVER;
    }
    try {
      return parseTimeSpec(v, 'time');
    } catch (err) {
      if (!(err instanceof TimeExpressionError)) throw err;
      ctx.issues.push({ code: 'custom', input: v, message: err.detail });
      return z.NEVER;
    }
  });
}

export function guidField(what: string) {
  const msg = `must be the ${what}, a GUID like "8f2c1a9e-3b4d-4c6e-9f01-23456789abcd"`;
  return z
    .string({ error: msg })
    .regex(GUID_PATTERN, { error: msg })
    .transform((s) => s.toLowerCase());
}

/** Verified domain names a tenant can be addressed by (contoso.onmicrosoft.com, contoso.com). */
const DOMAIN_PATTERN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

export function tenantIdField() {
  const msg = 'must be the tenant id (a GUID like "8f2c1a9e-3b4d-4c6e-9f01-23456789abcd") or a verified domain of the tenant such as "contoso.onmicrosoft.com"';
  return z.string({ error: msg }).transform((raw, ctx): string => {
    const s = raw.trim().toLowerCase();
    if (['common', 'organizations', 'consumers'].includes(s)) {
      ctx.issues.push({ code: 'custom', input: raw, message: `must name one tenant; "${s}" only works for interactive sign-in, not for the app-only access the collector uses. Use the tenant id (a GUID) or its domain such as "contoso.onmicrosoft.com"` });
      return z.NEVER;
    }
    if (!GUID_PATTERN.test(s) && !DOMAIN_PATTERN.test(s)) {
      ctx.issues.push({ code: 'custom', input: raw, message: msg });
      return z.NEVER;
    }
    return s;
  });
}

/** A secret reference string (env:NAME, kv:name, kv:https://…); `keyVaultUri` is the KEY_VAULT_URI app setting. */
export function secretRefField(keyVaultUri: string | undefined, example: string) {
  const msg = `must be a secret reference such as "${example}": ${SECRET_REF_SYNTAX}`;
  return z.unknown().transform((v, ctx): SecretRef => {
    if (typeof v !== 'string') {
      ctx.issues.push({ code: 'custom', input: undefined, message: v === undefined ? msg : `${msg}; got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`}` });
      return z.NEVER;
    }
    const r = parseSecretRef(v, keyVaultUri);
    if ('problem' in r) {
      ctx.issues.push({ code: 'custom', input: undefined, message: r.problem });
      return z.NEVER;
    }
    return r.ref;
  });
}
