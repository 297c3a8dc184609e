/**
 * A detail record held by one worker: a lease (compare-and-swap claim) renewed at every write and
 * by a heartbeat every third of its life, with every write serialised through one chain (as the
 * page worker's HeldClaim). A lost swap means another worker took the record over: the holder
 * stops (ClaimLost) and the taker resumes from the persisted answer and the destinations' marks.
 */
import { firstPartyGeneric } from '../errors';
import { CLAIM_TTL_MS } from '../worker/stages/claim';
import type { WorkerDeps } from '../worker/deps';
import { claim, renew } from './machine';
import type { DetailRecord, DetailStore } from './store';

export class DetailClaim {
  private chain: Promise<unknown> = Promise.resolve();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lost = false;
  private readonly ttl: number;

  private constructor(private readonly deps: WorkerDeps & { details: DetailStore }, public record: DetailRecord) {
    this.ttl = deps.claimTtlMs ?? CLAIM_TTL_MS;
    const renewEvery = this.ttl / 3;
    const realMs = deps.clock.toRealMs(renewEvery);
    if (realMs > 0) {
      this.heartbeat = setInterval(() => {
        if (this.deps.clock.now() + this.ttl - this.record.claimUntil < renewEvery / 2) return;
        this.update((r) => r).catch(() => undefined);
      }, realMs);
      this.heartbeat.unref?.();
    }
  }

  /** Claims the record for this message; undefined when another worker changed it first. */
  static async take(deps: WorkerDeps & { details: DetailStore }, record: DetailRecord, owner: string): Promise<DetailClaim | undefined> {
    const ttlMs = deps.claimTtlMs ?? CLAIM_TTL_MS;
    const claimed = await deps.details.swap(claim(record, { owner, ttlMs }, deps.clock.now()));
    return claimed ? new DetailClaim(deps, claimed) : undefined;
  }

  /** Writes a transition with a renewed claim; throws ClaimLost when another worker took the record. */
  update(change: (r: DetailRecord) => DetailRecord): Promise<DetailRecord> {
    const p = this.chain.then(() => this.write(change), () => this.write(change));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async write(change: (r: DetailRecord) => DetailRecord): Promise<DetailRecord> {
    if (this.lost) throw lostError();
    const updated = await this.deps.details.swap(renew(change(this.record), { ttlMs: this.ttl }, this.deps.clock.now()));
    if (!updated) {
      this.lost = true;
      throw lostError();
    }
    this.record = updated;
    return updated;
  }

  /** The claim's last write: a transition that releases it (finish, retryLater, park, release, skip). Undefined when lost. */
  async commit(change: (r: DetailRecord) => DetailRecord): Promise<DetailRecord | undefined> {
    this.stop();
    await this.chain;
    if (this.lost) return undefined;
    const updated = await this.deps.details.swap(change(this.record));
    if (updated) this.record = updated;
    else this.lost = true;
    return updated;
  }

  get isLost(): boolean {
    return this.lost;
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

function lostError() {
  return firstPartyGeneric('lost the claim on the detail record while working on it', { code: 'ClaimLost' });
}
