/**
 * Adaptive slicing: spend every request well (issue 5, "Requests are spent well").
 *
 * - A slice of R rows costs ceil(R / pageSize) requests; only its last page is partial. A slice
 *   of at least `minPagesPerSlice` pages (default 10) therefore averages at least
 *   pageSize x (1 - 1 / (2 x 10)) = 95% of a page per request in expectation, and never less than
 *   pageSize x 10 / 11 (~4545 rows at 5000) once it holds >= 10 full pages' worth of rows.
 * - Live slices grow (merge poll intervals) until they expect at least `minExpectedRows`, so a
 *   quiet tenant does not spend a request a minute on empty ranges; `maxLiveSliceMs`, or the
 *   source's lag target when the planner gives one, bounds the lag.
 * - Backfill ranges are cut at equal expected rows from the observed density (a histogram of done
 *   slices when there is one), so empty hours merge into their neighbours and slices finish together.
 * - Enough slices run in parallel to keep the budget busy at the observed latency (sizing.ts).
 */
import { deriveConcurrency } from './sizing';

export interface ObservedRange {
  startMs: number;
  endMs: number;
  rows: number;
}

const DAY_MS = 86_400_000;

/** Rows per ms over done ranges (total rows / total duration); undefined when nothing is known. */
export function observedDensity(done: readonly ObservedRange[]): number | undefined {
  let rows = 0;
  let ms = 0;
  for (const r of done) {
    if (!(r.endMs > r.startMs) || !(r.rows >= 0)) continue;
    rows += r.rows;
    ms += r.endMs - r.startMs;
  }
  return ms > 0 ? rows / ms : undefined;
}

export interface LiveSliceInputs {
  /** Observed rows per ms (undefined: unknown, use one poll interval). */
  density: number | undefined;
  pollIntervalMs: number;
  /** The longest live slice (bounds the added lag). Default 15 minutes. */
  maxLiveSliceMs?: number;
  /** A live request should expect at least this many rows. Default 1. */
  minExpectedRows?: number;
  /**
   * The lag the source may add beyond its collection delay (issue 19: e.g. 2 poll intervals). When
   * given, it bounds the slice instead of maxLiveSliceMs: a quiet tenant's slice grows up to it, so
   * live requests carry more rows while the lag target still holds.
   */
  lagTargetMs?: number;
}

/** The length of the next live slice: a whole number of poll intervals. */
export function liveSliceMs(i: LiveSliceInputs): number {
  if (!(i.pollIntervalMs > 0)) throw new RangeError(`liveSliceMs: pollIntervalMs must be positive, got ${String(i.pollIntervalMs)}`);
  const maxMs = Math.max(i.pollIntervalMs, i.lagTargetMs ?? i.maxLiveSliceMs ?? 15 * 60_000);
  const minRows = i.minExpectedRows ?? 1;
  if (i.density === undefined || !(i.density > 0)) return i.density === 0 ? floorTo(maxMs, i.pollIntervalMs) : i.pollIntervalMs;
  const wanted = minRows / i.density;
  const intervals = Math.max(1, Math.ceil(wanted / i.pollIntervalMs - 1e-9));
  return Math.min(floorTo(maxMs, i.pollIntervalMs), intervals * i.pollIntervalMs);
}

export interface LagTargetInputs {
  /** Observed rows per ms (undefined: unknown, one poll interval). */
  density: number | undefined;
  pollIntervalMs: number;
  /** The lag the source may add beyond its collection delay (the planner's: two poll intervals). */
  lagTargetMs: number;
  /** Rows one request returns at most (the source's page size). */
  pageSize: number;
}

/**
 * The live slice length from density and lag target together (issue 19, quiet tenants): as many
 * whole poll intervals as the lag target holds, while the slice is still expected to fit in one
 * request; one interval when the density is unknown.
 *
 * Merging intervals never costs a request: ceil((a + b) / page) <= ceil(a / page) + ceil(b / page).
 * It saves one whenever the merged rows fit in one page, which is every tenant below about half a
 * page per interval (3.6M rows a day at 5000 rows a page and a 1-minute poll): two intervals then
 * cost one request instead of two. Past one expected page, merging saves nothing on average and
 * only adds lag, so a busier tenant keeps one interval per slice. A slice of k intervals is planned
 * when it is due, so the lag stays within the collection delay + k intervals <= the lag target.
 */
export function liveSliceForLag(i: LagTargetInputs): number {
  if (!(i.pollIntervalMs > 0)) throw new RangeError(`liveSliceForLag: pollIntervalMs must be positive, got ${String(i.pollIntervalMs)}`);
  if (!(i.pageSize > 0)) throw new RangeError(`liveSliceForLag: pageSize must be positive, got ${String(i.pageSize)}`);
  const most = Math.max(1, Math.floor(i.lagTargetMs / i.pollIntervalMs + 1e-9));
  if (i.density === undefined || !(i.density >= 0)) return i.pollIntervalMs;
  let k = most;
  while (k > 1 && i.density * k * i.pollIntervalMs > i.pageSize) k--;
  return k * i.pollIntervalMs;
}

export interface BackfillSliceInputs {
  startMs: number;
  endMs: number;
  /** Observed rows per ms for a uniform estimate (used when `histogram` is absent). */
  density?: number;
  /** Observed rows per range (e.g. per hour) covering [startMs, endMs); gaps count as empty. */
  histogram?: readonly ObservedRange[];
  /** Default 5000. */
  pageSize?: number;
  /** Slices that run at once (see parallelSlices); the cut makes at least this many when rows allow. */
  parallel?: number;
  /** Default 10 (>= 95% rows per request). */
  minPagesPerSlice?: number;
  /** API window limit. Default 10 days. */
  maxSliceMs?: number;
  /** Cut points are multiples of this. Default 1000 ms (the planner's second alignment). */
  granularityMs?: number;
}

/**
 * Cuts [startMs, endMs) into half-open slices of about equal expected rows: at least `parallel`
 * slices when each still gets `minPagesPerSlice` pages, never a slice longer than maxSliceMs,
 * and never a slice whose expected row count is zero unless the whole range is empty.
 */
export function planBackfillSlices(i: BackfillSliceInputs): { startMs: number; endMs: number; expectedRows: number }[] {
  const g = i.granularityMs ?? 1000;
  const pageSize = i.pageSize ?? 5000;
  const minPages = i.minPagesPerSlice ?? 10;
  const maxSliceMs = i.maxSliceMs ?? 10 * DAY_MS;
  const parallel = Math.max(1, Math.floor(i.parallel ?? 1));
  if (!(i.endMs > i.startMs)) return [];
  const buckets = i.histogram?.length ? normalise(i.histogram, i.startMs, i.endMs) : [{ startMs: i.startMs, endMs: i.endMs, rows: (i.density ?? 0) * (i.endMs - i.startMs) }];
  const total = buckets.reduce((a, b) => a + b.rows, 0);
  const byLength = Math.ceil((i.endMs - i.startMs) / maxSliceMs);
  const byPages = Math.floor(total / (pageSize * minPages));
  // `parallel` slices when each still gets minPages pages, fewer (each >= minPages) otherwise.
  const count = Math.max(byLength, Math.min(parallel, Math.max(1, byPages)));
  if (total <= 0 || count === 1) return splitByLength(i.startMs, i.endMs, maxSliceMs, g).map((s) => ({ ...s, expectedRows: total * ((s.endMs - s.startMs) / (i.endMs - i.startMs)) }));
  // Cut at the instants where the cumulative expected rows reach k x total / count.
  const cuts: number[] = [i.startMs];
  let acc = 0;
  let k = 1;
  for (const b of buckets) {
    while (k < count && acc + b.rows >= (k * total) / count) {
      const need = (k * total) / count - acc;
      const at = b.rows > 0 ? b.startMs + ((b.endMs - b.startMs) * need) / b.rows : b.startMs;
      const cut = Math.round(at / g) * g;
      if (cut > cuts[cuts.length - 1]! && cut < i.endMs) cuts.push(cut);
      k++;
    }
    acc += b.rows;
  }
  cuts.push(i.endMs);
  const out: { startMs: number; endMs: number; expectedRows: number }[] = [];
  for (let j = 0; j + 1 < cuts.length; j++) {
    for (const s of splitByLength(cuts[j]!, cuts[j + 1]!, maxSliceMs, g)) out.push({ ...s, expectedRows: rowsIn(buckets, s.startMs, s.endMs) });
  }
  return out;
}

/** How many slices of one tenant to run at once to keep its budget busy at the observed latency. */
export function parallelSlices(i: { observedLatencyMs: number; pageOverheadMs?: number; allowedPerWindow?: number; windowMs?: number; margin?: number; remainingPages?: number }): number {
  const plan = deriveConcurrency({
    tenants: 1,
    pageLatencyMs: Math.max(1, i.observedLatencyMs),
    ...(i.pageOverheadMs !== undefined ? { pageOverheadMs: i.pageOverheadMs } : {}),
    ...(i.allowedPerWindow !== undefined ? { allowedPerWindow: i.allowedPerWindow } : {}),
    ...(i.windowMs !== undefined ? { windowMs: i.windowMs } : {}),
    ...(i.margin !== undefined ? { margin: i.margin } : {}),
  });
  const remaining = i.remainingPages === undefined ? Infinity : Math.max(1, Math.ceil(i.remainingPages));
  return Math.min(plan.fanOutPerTenant, remaining);
}

/** Expected requests and rows per request of a slice of `rows` rows. */
export function requestsFor(rows: number, pageSize = 5000): number {
  return Math.max(1, Math.ceil(rows / pageSize));
}

function floorTo(ms: number, step: number): number {
  return Math.max(step, Math.floor(ms / step) * step);
}

function splitByLength(startMs: number, endMs: number, maxMs: number, g: number): { startMs: number; endMs: number }[] {
  const n = Math.max(1, Math.ceil((endMs - startMs) / maxMs));
  const out: { startMs: number; endMs: number }[] = [];
  let from = startMs;
  for (let j = 1; j <= n; j++) {
    const to = j === n ? endMs : Math.min(endMs, Math.floor((startMs + ((endMs - startMs) * j) / n) / g) * g);
    if (to > from) out.push({ startMs: from, endMs: to });
    from = to;
  }
  return out;
}

/** Clips a histogram to [start, end), sorted, with gaps as empty buckets. */
function normalise(h: readonly ObservedRange[], start: number, end: number): ObservedRange[] {
  const sorted = h.filter((b) => b.endMs > start && b.startMs < end && b.endMs > b.startMs)
    .map((b) => {
      const s = Math.max(b.startMs, start);
      const e = Math.min(b.endMs, end);
      return { startMs: s, endMs: e, rows: (Math.max(0, b.rows) * (e - s)) / (b.endMs - b.startMs) };
    })
    .sort((a, b) => a.startMs - b.startMs);
  const out: ObservedRange[] = [];
  let at = start;
  for (const b of sorted) {
    if (b.startMs > at) out.push({ startMs: at, endMs: b.startMs, rows: 0 });
    const s = Math.max(b.startMs, at);
    if (b.endMs > s) out.push({ startMs: s, endMs: b.endMs, rows: (b.rows * (b.endMs - s)) / (b.endMs - b.startMs) });
    at = Math.max(at, b.endMs);
  }
  if (at < end) out.push({ startMs: at, endMs: end, rows: 0 });
  return out;
}

function rowsIn(buckets: readonly ObservedRange[], s: number, e: number): number {
  let n = 0;
  for (const b of buckets) {
    const lo = Math.max(s, b.startMs);
    const hi = Math.min(e, b.endMs);
    if (hi > lo) n += (b.rows * (hi - lo)) / (b.endMs - b.startMs);
  }
  return n;
}
