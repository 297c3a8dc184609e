/**
 * The planner timer run's first reads (issue 19: planner work proportional to new work). Every
 * source's planning starts with its cursor, most with its health row, and every source's gauges
 * read its tenant's budget: three point reads per source and minute, 3,000 requests a run for
 * 1000 sources, most of them for sources with nothing due. Instead the run reads each of the three
 * tables once, by a query over the whole table (one request per 1000 rows, filtered on the row key
 * only), before it plans any source, and each source's planning takes its rows from here.
 *
 * Nothing is decided on these rows that could not have been decided on a point read made at the
 * start of the run: every write that follows is a compare-and-swap on the ETag the query returned
 * (ARCHITECTURE invariants 4 and 10), so a row another process changed since (a backfill's run hint, a
 * page job's watermark) fails its swap and the planner reads it again, exactly as after a point
 * read that a slow run made early. Each row is taken once per source and run: what the planning
 * reads after its own writes it reads from the table. A source with no row in the query's answer
 * has none (a new source: its cursor is created without a read that would only return 404).
 *
 * When the query fails the run falls back to point reads (a warning, no lost run).
 */
import type { CursorRow, HealthRow, Ledger } from '../state/ledger';
import type { Logger } from '../log';

/** What the budget gauges need of a tenant's usage (TenantBudget.usage). */
export interface BudgetUsageView { used: number; allowed: number; waitedForDetail?: number }

export interface BudgetUsageSource {
  /** Every tenant's usage that has a row, and the usage of one that has none (TenantBudget.usageAll). */
  usageAll(): Promise<{ tenants: Map<string, BudgetUsageView>; none: BudgetUsageView }>;
}

/** A row the run read for a source: `row` undefined means the table has none for it. */
export interface Taken<T> { row: T | undefined }

export class PlanPrefetch {
  private readonly cursors: Map<string, CursorRow> | undefined;
  private readonly health: Map<string, HealthRow> | undefined;
  private readonly budget: { tenants: Map<string, BudgetUsageView>; none: BudgetUsageView } | undefined;
  private readonly takenCursor = new Set<string>();
  private readonly takenHealth = new Set<string>();

  constructor(rows: { cursors?: Map<string, CursorRow>; health?: Map<string, HealthRow>; budget?: { tenants: Map<string, BudgetUsageView>; none: BudgetUsageView } }) {
    this.cursors = rows.cursors;
    this.health = rows.health;
    this.budget = rows.budget;
  }

  /** The source's cursor as the run's query found it, once; undefined when it must be read (taken before, or no query). */
  takeCursor(sourceId: string): Taken<CursorRow> | undefined {
    return take(this.cursors, this.takenCursor, sourceId);
  }

  /** The source's health row as the run's query found it, once (as takeCursor). */
  takeHealth(sourceId: string): Taken<HealthRow> | undefined {
    return take(this.health, this.takenHealth, sourceId);
  }

  /** The tenant's budget usage as the run's query found it (nothing used when it has no row); undefined without a query. */
  budgetUsage(tenantId: string): BudgetUsageView | undefined {
    if (!this.budget) return undefined;
    return this.budget.tenants.get(tenantId) ?? this.budget.none;
  }
}

function take<T>(rows: Map<string, T> | undefined, taken: Set<string>, sourceId: string): Taken<T> | undefined {
  if (!rows || taken.has(sourceId)) return undefined;
  taken.add(sourceId);
  return { row: rows.get(sourceId) };
}

/**
 * Reads every cursor, health row and (with `budget`) every tenant's usage, one query per table,
 * the three at once. A failed query leaves its kind to point reads.
 */
export async function prefetchPlanRows(deps: { ledger: Pick<Ledger, 'listCursors' | 'listHealth'>; log: Logger }, budget?: BudgetUsageSource): Promise<PlanPrefetch> {
  const collect = async <T extends { sourceId: string }>(what: string, rows: () => AsyncIterable<T>): Promise<Map<string, T> | undefined> => {
    try {
      const out = new Map<string, T>();
      for await (const r of rows()) out.set(r.sourceId, r);
      return out;
    } catch (err) {
      deps.log.log('warn', `planner: reading every ${what} at once failed (${(err as Error).message}); this run reads them source by source`, {});
      return undefined;
    }
  };
  const [cursors, health, usage] = await Promise.all([
    collect('cursor', () => deps.ledger.listCursors()),
    collect('health row', () => deps.ledger.listHealth()),
    budget ? budget.usageAll().catch((err: unknown) => {
      deps.log.log('warn', `planner: reading every tenant's budget at once failed (${(err as Error).message}); the gauges read them tenant by tenant`, {});
      return undefined;
    }) : Promise.resolve(undefined),
  ]);
  return new PlanPrefetch({ ...(cursors ? { cursors } : {}), ...(health ? { health } : {}), ...(usage ? { budget: usage } : {}) });
}
