/**
 * Fault injection: rules that make the simulator misbehave the way the real service does
 * (reference A.8, B.2, B.4 #18134, B.8, F). Decisions use a seeded PRNG, so a run with the same
 * seed and the same request sequence injects the same faults.
 */
import { Prng } from './prng';

export const FAULT_KINDS = [
  '429', '500', '503', '504', 'reset', 'hang', 'html', 'truncated', 'corruptNextLink',
  'missingServicePrincipal', 'forbidden', 'expiredToken', 'echoForm', 'echoFormText',
] as const;

/**
 * Not Microsoft behaviour: a misconfigured proxy or authority in front of Entra that answers a
 * token request with 400 and the request's own form fields (credential fields first) as its body:
 * JSON `error_description` (echoForm) or text/plain (echoFormText). Token POSTs only;
 * it tests that collectors never repeat a token error body unredacted.
 */
export const ECHO_FAULTS: readonly FaultKind[] = ['echoForm', 'echoFormText'];
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultApi = 'graph' | 'rws' | 'detail' | 'token';

export interface FaultRule {
  kind: FaultKind;
  /** Chance (0..1) that a matching request gets the fault. Default 1. */
  probability?: number;
  /** Inject at most this many times. Default unlimited. */
  count?: number;
  match?: {
    tenantId?: string;
    api?: FaultApi;
    pathIncludes?: string;
    /** Only the nth (1-based) request that matches the other criteria of this rule. */
    nthRequest?: number;
  };
  /** For kind 429 (and 503): the Retry-After value in seconds. Default 10 (429) / 5 (503). */
  retryAfterSec?: number;
}

export interface FaultRequest {
  api: FaultApi;
  tenantId: string | undefined;
  path: string;
}

interface RuleState {
  rule: FaultRule;
  seen: number;
  fired: number;
}

export class FaultEngine {
  private rules: RuleState[] = [];
  private readonly rng: Prng;

  constructor(seed: number, rules: readonly FaultRule[] = []) {
    this.rng = new Prng(seed ^ 0xfa17);
    for (const r of rules) this.add(r);
  }

  add(rule: FaultRule): void {
    this.rules.push({ rule, seen: 0, fired: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  /**
   * The first rule that fires for this request, if any. `applicable` lets the caller skip kinds
   * that cannot apply (a corruptNextLink on a page without a nextLink); such a rule is not counted.
   */
  pick(req: FaultRequest, applicable: (kind: FaultKind) => boolean = () => true): FaultRule | undefined {
    for (const state of this.rules) {
      const { rule } = state;
      const m = rule.match ?? {};
      if (m.api && m.api !== req.api) continue;
      if (m.tenantId && m.tenantId.toLowerCase() !== (req.tenantId ?? '').toLowerCase()) continue;
      if (m.pathIncludes && !req.path.includes(m.pathIncludes)) continue;
      if (!applicable(rule.kind)) continue;
      state.seen++;
      if (m.nthRequest !== undefined && state.seen !== m.nthRequest) continue;
      if (rule.count !== undefined && state.fired >= rule.count) continue;
      const p = rule.probability ?? 1;
      if (p < 1 && this.rng.next() >= p) continue;
      state.fired++;
      return rule;
    }
    return undefined;
  }
}
