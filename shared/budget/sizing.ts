/**
 * How many workers: derived from the tenant budget and the page latency, not guessed.
 *
 * Little's law: the number of requests in flight = arrival rate x time each one is in flight.
 * A tenant may send `allowed` requests per `windowMs` (90 per 300 s after 10% headroom), and one
 * worker slot holds a page for `pageLatencyMs + pageOverheadMs` (the API call, plus claim, ledger
 * writes, budget acquire and delivery). So keeping ONE tenant's budget busy needs
 *
 *     slotsPerTenant = allowed / windowMs x (pageLatencyMs + pageOverheadMs)
 *
 * e.g. 90 / 300 s x 3 s = 0.9: one slot (fetching pages back to back) already uses a tenant's
 * whole budget; with 0.5 s of overhead per page it is 1.05, so a second slot is needed. N tenants
 * need about N x slotsPerTenant slots in the whole deployment; more only wait on the budget (a
 * refused job is re-enqueued with a visibility delay and does not hold a slot, so spare slots cost
 * little, but they buy nothing either).
 *
 * Planner fan-out (slices of one tenant run in parallel) = ceil(slotsPerTenant x margin): each
 * slice is a chain of page jobs, so this many chains keep the tenant busy.
 *
 * Functions host: one instance runs batchSize + newBatchThreshold queue messages at once
 * (reference azure-functions.md §1.4; with newBatchThreshold the host fetches the next batch when
 * the in-flight count drops to it). Flex maximumInstanceCount = ceil(totalSlots / slotsPerInstance).
 */

export interface ConcurrencyInputs {
  /** Tenants (sources) served by the deployment. */
  tenants: number;
  /** Requests the collector may use per window per tenant (TenantBudget `allowed`). Default 90. */
  allowedPerWindow?: number;
  /** Default 300_000. */
  windowMs?: number;
  /** API time per page (observed, or the expected ~3000 ms). */
  pageLatencyMs: number;
  /** Worker time per page outside the API call. Default 0. */
  pageOverheadMs?: number;
  /** Spare factor for slow pages and retries. Default 1.25. */
  margin?: number;
  /** Queue messages one instance should run at once (CPU and memory bound). Default 6 (host.json 4 + 2). */
  slotsPerInstance?: number;
}

export interface ConcurrencyPlan {
  /** Exact slots one tenant keeps busy (Little's law), before margin. */
  slotsPerTenant: number;
  /** Parallel slices (page-job chains) per tenant for backfill and catch-up. */
  fanOutPerTenant: number;
  /** Worker slots for the whole deployment. */
  totalSlots: number;
  /** host.json extensions.queues.batchSize. */
  batchSize: number;
  /** host.json extensions.queues.newBatchThreshold. */
  newBatchThreshold: number;
  /** Flex Consumption maximumInstanceCount for the queue function's scale group. */
  maximumInstanceCount: number;
}

function positive(name: string, v: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`deriveConcurrency: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
  return v;
}

export function deriveConcurrency(input: ConcurrencyInputs): ConcurrencyPlan {
  const tenants = positive('tenants', input.tenants, true);
  const allowed = positive('allowedPerWindow', input.allowedPerWindow ?? 90, true);
  const windowMs = positive('windowMs', input.windowMs ?? 300_000);
  const latency = positive('pageLatencyMs', input.pageLatencyMs);
  const overhead = input.pageOverheadMs ?? 0;
  if (!(overhead >= 0) || !Number.isFinite(overhead)) throw new RangeError(`deriveConcurrency: pageOverheadMs must be 0 or more, got ${String(overhead)}`);
  const margin = input.margin ?? 1.25;
  if (!(margin >= 1) || !Number.isFinite(margin)) throw new RangeError(`deriveConcurrency: margin must be 1 or more, got ${String(margin)}`);
  const perInstance = positive('slotsPerInstance', input.slotsPerInstance ?? 6, true);

  const slotsPerTenant = (allowed / windowMs) * (latency + overhead);
  // A tiny epsilon so 0.9 x 1.0 stays 1 and floating noise (1.0000000002) does not add a slot.
  const ceil = (x: number) => Math.max(1, Math.ceil(x - 1e-9));
  const fanOutPerTenant = ceil(slotsPerTenant * margin);
  const totalSlots = ceil(tenants * slotsPerTenant * margin);
  const slotsHere = Math.min(perInstance, totalSlots);
  const batchSize = Math.min(32, Math.max(1, Math.ceil((slotsHere * 2) / 3)));
  const newBatchThreshold = Math.max(0, slotsHere - batchSize);
  const maximumInstanceCount = Math.max(1, Math.ceil(totalSlots / (batchSize + newBatchThreshold)));
  return { slotsPerTenant, fanOutPerTenant, totalSlots, batchSize, newBatchThreshold, maximumInstanceCount };
}
