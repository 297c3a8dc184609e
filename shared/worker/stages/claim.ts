/**
 * Stage 2, claim: take the page in the ledger (a compare-and-swap), and hold it while working.
 */
import { firstPartyGeneric } from '../../errors';
import type { SliceRow } from '../../state/ledger';
import { claim, release, renew } from '../../state/slice-machine';
import type { WorkerDeps } from '../deps';

/**
 * A page claim lives this long (clock time) and is renewed while its holder works: at every
 * acknowledged batch and by a heartbeat every third of it. A holder that died stops renewing,
 * so its page is taken over within a minute; a live claim is never taken over.
 */
export const CLAIM_TTL_MS = 60_000;

/** Claims the page for this message; undefined when another worker changed the row first. */
export async function claimPage(deps: WorkerDeps, slice: SliceRow, messageId: string): Promise<HeldClaim | undefined> {
  const ttlMs = deps.claimTtlMs ?? CLAIM_TTL_MS;
  const claimed = await deps.ledger.swapSlice(claim(slice, { owner: messageId, ttlMs }, deps.clock.now()));
  return claimed ? new HeldClaim(deps, claimed) : undefined;
}

/**
 * The slice row while this worker holds its claim. Every write is a compare-and-swap serialised
 * through one chain (the delivery's progress marks and the heartbeat never race each other), and
 * every write renews the claim. A lost swap means another worker took the page over: the holder
 * stops (ClaimLost) and the taker resumes from the persisted page copy.
 */
export class HeldClaim {
  private chain: Promise<unknown> = Promise.resolve();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lost = false;
  /** A transition refused while applied in memory (patchLocal): the next write throws it. */
  private refused: unknown;
  private readonly ttl: number;
  constructor(private readonly deps: WorkerDeps, public slice: SliceRow) {
    this.ttl = deps.claimTtlMs ?? CLAIM_TTL_MS;
    const renewEvery = this.ttl / 3;
    const realMs = deps.clock.toRealMs(renewEvery);
    if (realMs > 0) {
      this.heartbeat = setInterval(() => {
        if (this.deps.clock.now() + this.ttl - this.slice.claimUntil < renewEvery / 2) return;
        this.update((s) => s).catch(() => undefined);
      }, realMs);
      this.heartbeat.unref?.();
    }
  }

  /** Writes a transition (and a renewed claim); throws ClaimLost when another worker took the page. */
  update(change: (s: SliceRow) => SliceRow): Promise<SliceRow> {
    const p = this.chain.then(() => this.write(change), () => this.write(change));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async write(change: (s: SliceRow) => SliceRow): Promise<SliceRow> {
    if (this.lost) throw firstPartyGeneric('lost the claim on the slice while delivering', { code: 'ClaimLost' });
    if (this.refused) throw this.refused;
    const updated = await this.deps.ledger.swapSlice(renew(change(this.slice), { ttlMs: this.ttl }, this.deps.clock.now()));
    if (!updated) {
      this.lost = true;
      throw firstPartyGeneric('lost the claim on the slice while delivering', { code: 'ClaimLost' });
    }
    this.slice = updated;
    return updated;
  }

  /** A transition kept in memory until the next write (a destination's final mark for this page). */
  patchLocal(change: (s: SliceRow) => SliceRow): void {
    // After the writes in flight (a heartbeat that finishes later must not erase it).
    const apply = () => {
      try {
        this.slice = change(this.slice);
      } catch (err) {
        this.refused ??= err;
      }
    };
    this.chain = this.chain.then(apply, apply);
  }

  /** The last write of the claim: a transition that releases it (recordPage, release). Undefined when lost. */
  async commit(change: (s: SliceRow) => SliceRow): Promise<SliceRow | undefined> {
    this.stop();
    await this.chain;
    if (this.lost) return undefined;
    if (this.refused) throw this.refused;
    const updated = await this.deps.ledger.swapSlice(change(this.slice));
    if (updated) this.slice = updated;
    else this.lost = true;
    return updated;
  }

  /** Stops renewing and waits for writes in flight: the row to hand to a retry or park, or undefined when lost. */
  async finish(): Promise<SliceRow | undefined> {
    this.stop();
    await this.chain;
    return this.lost ? undefined : this.slice;
  }

  /** Gives the claim up without recording the page (budget refusal); the attempt does not count. */
  release(): Promise<SliceRow | undefined> {
    return this.commit((s) => release(s, this.deps.clock.now()));
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
