/**
 * The baseline: a collector configured like the peers (reference peer-collectors.md): ONE
 * sequential worker, `$top` 1000, fixed 5-minute windows, one cursor per tenant that walks from
 * the start to now - delay (so a backfill and live collection share it), tenants served
 * round-robin one window at a time, Retry-After honoured by sleeping. Plain HTTP (fetch) against
 * the simulator; the same page processing as ours so CPU figures compare like with like.
 */
import type { Clock } from '../shared/time/clock';
import type { MessageTraceRow } from '../shared/model/row';
import { processPage } from './process-page';
import type { Recorder } from './recorder';
import { SimulatorToken } from './sim-client';

export interface TenantSetup {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Backfill range for this tenant, if any (the baseline's single cursor starts there). */
  backfill?: { startMs: number; endMs: number };
}

const WINDOW_MS = 5 * 60_000;
const TOP = 1000;

/**
 * `doneAt`: the cursor passed the end of the backfill range. `caughtUpAt`: after that, the cursor
 * reached the live edge (its next window is not due yet), i.e. the rows that arrived while the
 * single cursor walked the backfill are collected too: the same work ours has done when its
 * backfill ends, since ours keeps live collection current beside it.
 */
interface Cursor { setup: TenantSetup; token: SimulatorToken; cursor: number; backfillEnd: number; doneAt?: number; caughtUpAt?: number }

export class BaselineCollector {
  readonly slots = 1;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly cursors: Cursor[];

  constructor(private readonly o: { clock: Clock; baseUrl: string; tenants: TenantSetup[]; recorder: Recorder; collectionDelayMs: number; pollIntervalMs: number }) {
    const liveStart = Math.floor((o.clock.now() - o.collectionDelayMs) / 1000) * 1000;
    this.cursors = o.tenants.map((setup) => ({
      setup,
      token: new SimulatorToken(o.baseUrl, setup.tenantId, setup.clientId, setup.clientSecret),
      cursor: setup.backfill?.startMs ?? liveStart,
      backfillEnd: setup.backfill?.endMs ?? liveStart,
    }));
  }

  lagsMs(): number[] {
    const now = this.o.clock.now();
    return this.cursors.map((c) => now - c.cursor);
  }

  backfillRunning(): boolean {
    return this.cursors.some((c) => c.cursor < c.backfillEnd);
  }

  backfillFinishedAt(): number | undefined {
    return this.backfillRunning() ? undefined : Math.max(0, ...this.cursors.map((c) => c.doneAt ?? 0));
  }

  /** When every tenant with a backfill had also caught up with live (undefined until then). */
  caughtUpAt(): number | undefined {
    const withBackfill = this.cursors.filter((c) => c.setup.backfill);
    if (withBackfill.some((c) => c.caughtUpAt === undefined)) return undefined;
    return Math.max(0, ...withBackfill.map((c) => c.caughtUpAt!));
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  async start(): Promise<void> {
    const { clock } = this.o;
    while (!this.stopped) {
      let worked = false;
      for (const c of this.cursors) {
        if (this.stopped) return;
        if (c.cursor + WINDOW_MS > clock.now() - this.o.collectionDelayMs) {
          if (c.doneAt !== undefined && c.caughtUpAt === undefined) c.caughtUpAt = clock.now();
          continue;
        }
        await this.collectWindow(c, c.cursor, c.cursor + WINDOW_MS);
        c.cursor += WINDOW_MS;
        if (c.cursor >= c.backfillEnd && c.doneAt === undefined) c.doneAt = clock.now();
        worked = true;
      }
      if (!worked) await clock.sleep(this.o.pollIntervalMs, this.abort.signal);
    }
  }

  private async collectWindow(c: Cursor, startMs: number, endMs: number): Promise<void> {
    const { clock, recorder } = this.o;
    const filter = `receivedDateTime ge ${new Date(startMs).toISOString()} and receivedDateTime le ${new Date(endMs).toISOString()}`;
    let url: string | undefined = `${this.o.baseUrl}/v1.0/admin/exchange/tracing/messageTraces?$filter=${encodeURIComponent(filter)}&$top=${TOP}`;
    let previousKeys: Set<string> | undefined;
    while (url && !this.stopped) {
      let res: Response;
      try {
        res = await fetch(url, { headers: { authorization: `Bearer ${await c.token.get()}`, accept: 'application/json' }, signal: this.abort.signal });
      } catch (err) {
        if (this.stopped) return;
        recorder.errors++;
        if (recorder.errors < 5) console.error(`baseline: request failed: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ''}`);
        await clock.sleep(5000, this.abort.signal);
        continue;
      }
      const text = await res.text();
      recorder.request(res.status);
      if (res.status === 429) {
        await clock.sleep(Number(res.headers.get('retry-after') ?? '60') * 1000, this.abort.signal);
        continue;
      }
      if (res.status === 401) c.token.invalidate(); // the token outlived its simulated lifetime: renew it, as the peers do
      if (res.status !== 200) {
        recorder.errors++;
        if (recorder.errors < 5) console.error(`baseline: HTTP ${res.status}: ${text.slice(0, 200)}`);
        await clock.sleep(5000, this.abort.signal);
        continue;
      }
      const body = JSON.parse(text) as { value: MessageTraceRow[]; '@odata.nextLink'?: string };
      const processed = await processPage({
        tenantId: c.setup.tenantId, sourceId: c.setup.tenantId, rows: body.value, startMs, endMs, collectedAt: new Date(clock.now()).toISOString(),
        ...(previousKeys ? { previousKeys } : {}),
      });
      previousKeys = processed.keys;
      recorder.rows += processed.kept;
      if (startMs < c.backfillEnd) {
        recorder.backfillRows += processed.kept;
        recorder.backfillRequests++;
      }
      url = body['@odata.nextLink'];
    }
  }
}
