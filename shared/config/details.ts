/**
 * A source's `details` block: detail enrichment (issue 17). For the rows whose status says a mail
 * did not arrive (failed, quarantined, filtered as spam), one Graph `getDetailsByRecipient` call
 * tells why: the events, the rule or filter that acted, its XML `data`. Each call spends one of the
 * tenant's requests, so it is off by default, capped per day, and served only from what live
 * collection, backfill and settle leave unused (shared/budget, priority `detail`).
 */
import { z } from 'zod';
import { DAY_MS } from '../time/expressions';
import { booleanField, durationField, intField } from '../config-common/fields';
import type { DetailOptions } from './types';

/** The message trace statuses of Graph (reference B.5), as the configuration names them. */
export const TRACE_STATUSES = ['gettingStatus', 'pending', 'failed', 'delivered', 'expanded', 'quarantined', 'filteredAsSpam', 'recalled'] as const;

export const DETAIL_DEFAULTS = {
  enabled: false,
  statuses: ['failed', 'quarantined', 'filteredAsSpam'],
  dailyRequestCap: 2000,
  /** How far back Graph keeps details (Get-MessageTraceDetailV2 searches 90 days; UNCONFIRMED for Graph). */
  retention: '90d',
} as const;

/** Most sender or recipient patterns one source may list (they are matched against every qualifying row). */
export const MAX_DETAIL_PATTERNS = 200;

const STATUS_LIST = TRACE_STATUSES.map((s) => `"${s}"`).join(', ');

const statusField = z.string({ error: `must be a message trace status, one of ${STATUS_LIST}` }).transform((raw, ctx): string => {
  const found = TRACE_STATUSES.find((s) => s.toLowerCase() === raw.trim().toLowerCase());
  if (!found) {
    ctx.issues.push({ code: 'custom', input: raw, message: `"${raw.slice(0, 40)}" is not a message trace status; use one of ${STATUS_LIST}` });
    return z.NEVER;
  }
  return found;
});

/** An address pattern: an address, or `*` wildcards such as `*@contoso.com` (compared case-insensitively). */
const patternField = (what: string) => z.string({ error: `must be ${what} address patterns such as "*@contoso.com" or "alice@contoso.com"` })
  .transform((raw, ctx): string => {
    const p = raw.trim().toLowerCase();
    if (p === '' || p.length > 320 || /\s/.test(p) || !/[@*]/.test(p)) {
      ctx.issues.push({ code: 'custom', input: raw, message: `"${raw.slice(0, 40)}" is not an address pattern; write an address ("alice@contoso.com") or use * as a wildcard ("*@contoso.com", "*@*.contoso.com")` });
      return z.NEVER;
    }
    return p;
  });

const patternsField = (what: string) => z.array(patternField(what), { error: `must be a list of ${what} address patterns, e.g. ["*@contoso.com"]` })
  .max(MAX_DETAIL_PATTERNS, { error: `must list at most ${MAX_DETAIL_PATTERNS} patterns; use a wildcard ("*@contoso.com") for a whole domain` })
  .default([]);

export const detailsSchema = z.object(
  {
    enabled: booleanField().default(DETAIL_DEFAULTS.enabled),
    statuses: z.array(statusField, { error: `must be a list of statuses such as ["failed", "quarantined", "filteredAsSpam"]` })
      .min(1, { error: 'must name at least one status, e.g. ["failed"] (to turn details off, set "enabled": false)' })
      .prefault([...DETAIL_DEFAULTS.statuses]),
    dailyRequestCap: intField(1, 100_000, 2000).default(DETAIL_DEFAULTS.dailyRequestCap),
    senders: patternsField('sender'),
    recipients: patternsField('recipient'),
    retention: durationField(DAY_MS, 90 * DAY_MS, '90d').prefault(DETAIL_DEFAULTS.retention),
  },
  { error: 'must be an object such as {"enabled": true, "statuses": ["failed", "quarantined", "filteredAsSpam"], "dailyRequestCap": 2000}' },
);

export const DETAIL_FIELDS = Object.keys(detailsSchema.shape);

export const DETAIL_ALIASES: Record<string, string> = {
  enable: 'enabled',
  on: 'enabled',
  status: 'statuses',
  states: 'statuses',
  cap: 'dailyRequestCap',
  dailyCap: 'dailyRequestCap',
  requestCap: 'dailyRequestCap',
  maxRequestsPerDay: 'dailyRequestCap',
  dailyLimit: 'dailyRequestCap',
  sender: 'senders',
  from: 'senders',
  recipient: 'recipients',
  to: 'recipients',
  maxAge: 'retention',
  lookback: 'retention',
};

export function toDetailOptions(d: z.output<typeof detailsSchema>): DetailOptions {
  return {
    enabled: d.enabled,
    statuses: [...new Set(d.statuses)],
    dailyRequestCap: d.dailyRequestCap,
    senders: [...new Set(d.senders)],
    recipients: [...new Set(d.recipients)],
    retentionMs: d.retention,
  };
}

/** The message rwsDetails says for `api: "rws"` with details on. */
export function rwsDetailsMessage(): string {
  return 'detail enrichment needs Microsoft Graph ("api": "graph"): it calls Graph getDetailsByRecipient, and the legacy RWS MessageTraceDetail report is not built; remove "details", set "details.enabled": false, or collect this tenant through Graph';
}
