/**
 * The workers of this process waiting idle for a job (an in-process agent's claim, between its empty claim and
 * the `job_ready` that wakes it), so an admission here can claim for one of them in its own commit
 * (Store.admitJob `claimFor`): the claim's commit, the wake and the claimer's turn leave a job's path to its
 * prompt. Only a waiter's own claim call hears what was claimed for it, so a job claimed this way is never
 * handed to a worker that stopped waiting: a waiter reserved by an admission in flight waits for its answer
 * before it leaves, whatever ended its wait (a timeout, the agent stopping).
 */
import type { ClaimHandoff, ClaimReservation } from '../jobs/lifecycle/lifecycle-deps.js';
import type { Claim, ClaimOptions } from '../store/contract.js';

/** A waiting worker's place; `leave` ends it (see IdleClaimers.enlist). */
export interface IdleWait {
  /**
   * Leaves the waiting workers: the claim an admission made for this worker, once any admission holding it
   * has answered; null when none did.
   */
  leave(): Promise<Claim | null>;
}

interface Waiter {
  workerId: string;
  pool: string;
  options: ClaimOptions;
  leaseMs: number;
  wake: () => void;
  /** Set while an admission holds it; resolves with what that admission claimed for it. */
  held: Promise<Claim | null> | null;
  claim: Claim | null;
  left: boolean;
}

export class IdleClaimers implements ClaimHandoff {
  /** Per pool, the waiting workers not held by an admission, longest waiting first. */
  readonly #waiting = new Map<string, Set<Waiter>>();

  /**
   * Enlists a worker that waits for a job of `pool`; `wake` ends its wait when an admission claimed for it.
   * The caller must `leave()` once its wait ends, and take the claim leave answers.
   */
  enlist(workerId: string, pool: string, leaseMs: number, options: ClaimOptions, wake: () => void): IdleWait {
    const w: Waiter = { workerId, pool, options, leaseMs, wake, held: null, claim: null, left: false };
    this.#add(w);
    return {
      leave: async () => {
        w.left = true;
        this.#remove(w);
        if (w.held !== null) await w.held;
        const claim = w.claim;
        w.claim = null;
        return claim;
      },
    };
  }

  reserve(pool: string): ClaimReservation | null {
    const w = this.#waiting.get(pool)?.values().next().value;
    if (w === undefined) return null;
    this.#remove(w);
    let answer = (_: Claim | null): void => {};
    w.held = new Promise<Claim | null>((resolve) => (answer = resolve));
    let settled = false;
    return {
      claimFor: { workerId: w.workerId, pool: w.pool, leaseMs: w.leaseMs, options: w.options },
      settle: (claim) => {
        if (settled) return;
        settled = true;
        w.held = null;
        w.claim = claim;
        answer(claim);
        if (claim !== null) w.wake();
        else if (!w.left) this.#add(w);
      },
    };
  }

  /** Workers waiting and not held (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.#waiting.values()) n += set.size;
    return n;
  }

  #add(w: Waiter): void {
    let set = this.#waiting.get(w.pool);
    if (set === undefined) this.#waiting.set(w.pool, (set = new Set()));
    set.add(w);
  }

  #remove(w: Waiter): void {
    const set = this.#waiting.get(w.pool);
    if (set === undefined) return;
    set.delete(w);
    if (set.size === 0) this.#waiting.delete(w.pool);
  }
}
