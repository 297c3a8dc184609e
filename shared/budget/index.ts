/**
 * The tenant request budget, worker-count derivation and adaptive slicing (issue 5).
 * See docs/throughput.md for the model and where the worker and planner call these.
 */
export {
  TenantBudget, BudgetOptionError, budgetTableName, resolveBudgetOptions, decide, detailReserveFor, LIVE_WAIT_GRACE_MS, DEMAND_GRACE_MS, BUDGET_PRIORITIES,
} from './tenant-budget';
export type {
  BudgetPriority, AcquireResult, RefusalReason, BudgetUsage, TenantBudgetOptions, ResolvedBudgetOptions, BudgetState, Grant, Decision,
} from './tenant-budget';
export { deriveConcurrency } from './sizing';
export type { ConcurrencyInputs, ConcurrencyPlan } from './sizing';
export { observedDensity, liveSliceMs, liveSliceForLag, planBackfillSlices, parallelSlices, requestsFor } from './slicing';
export type { ObservedRange, LiveSliceInputs, BackfillSliceInputs } from './slicing';
