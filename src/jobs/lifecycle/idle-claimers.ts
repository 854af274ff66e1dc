/**
 * The claims of this process that are waiting for work (WorkerService.claim found nothing and waits for a
 * `job_ready`), so an admission on this process can make the claim itself, in its own commit (Store.admitJob
 * `claimFor`): the job reaches its idle worker without a second transaction, and without the wake-up of the
 * worker and the claim's read of an empty queue before it. On this project's 2-core machine that was a third of
 * a millisecond of a warm job's way to ComfyUI (docs/benchmarks.md, round 17).
 *
 * The hand-off changes nothing a claim decides: the admission runs the waiting claim's own statements (the fair
 * pick, bounded affinity, its lease and claim id) right after the job's insert, so the claim takes what it would
 * have taken had it run just after that commit — an older job, or none (its affinity may leave the job to a
 * worker holding its model). Either way the claim is answered, and a claim given nothing simply claims again.
 * Claims are served in the order they began waiting. Only this process's claims wait here: other replicas
 * hear of the job from the bus, as before.
 */
import type { Claim, ClaimRequest } from '../../store/contract.js';

/** A waiting claim as the admission sees it. */
export interface TakenClaim {
  readonly request: ClaimRequest;
  /** What the admission's commit claimed for it (null: nothing, or the admission failed). Call exactly once. */
  hand(claim: Claim | null): void;
}

/** A waiting claim as its own side sees it. */
export interface WaitingClaim {
  /**
   * Stops waiting: null when no admission took it; else what that admission claimed for it, once its commit
   * answered (or null when it claimed nothing).
   */
  leave(): Promise<Claim | null>;
}

interface Entry {
  request: ClaimRequest;
  handed: Promise<Claim | null>;
  hand: (claim: Claim | null) => void;
  taken: boolean;
}

export class IdleClaimers {
  readonly #waiting: Entry[] = [];

  /** Claims waiting now (tests, metrics). */
  get size(): number {
    return this.#waiting.length;
  }

  /** `request` waits for work; `woken` is called when an admission takes it (end the claim's wait then). */
  wait(request: ClaimRequest, woken: () => void): WaitingClaim {
    let resolve!: (claim: Claim | null) => void;
    const handed = new Promise<Claim | null>((r) => {
      resolve = r;
    });
    const entry: Entry = { request, handed, hand: resolve, taken: false };
    entry.hand = (claim) => {
      resolve(claim);
      woken();
    };
    this.#waiting.push(entry);
    return {
      leave: async () => {
        if (entry.taken) return await entry.handed;
        this.#remove(entry);
        return null;
      },
    };
  }

  /** The claim of `pool` that has waited longest, now the caller's to answer (TakenClaim.hand), if any waits. */
  take(pool: string): TakenClaim | null {
    const entry = this.#waiting.find((e) => e.request.pool === pool);
    if (entry === undefined) return null;
    this.#remove(entry);
    entry.taken = true;
    let answered = false;
    return {
      request: entry.request,
      hand: (claim) => {
        if (answered) return;
        answered = true;
        entry.hand(claim);
      },
    };
  }

  #remove(entry: Entry): void {
    const at = this.#waiting.indexOf(entry);
    if (at !== -1) this.#waiting.splice(at, 1);
  }
}
