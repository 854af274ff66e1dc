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
 * Claims are served in the order their calls began (a ticket each: a claim's wait is cut into the fallback poll's
 * periods, and it keeps its place across them). Only this process's claims wait here: other replicas hear of the
 * job from the bus, as before; and only where the store claims inside an admission (Store.claimsInAdmission).
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
  ticket: number;
  handed: Promise<Claim | null>;
  hand: (claim: Claim | null) => void;
  taken: boolean;
}

export class IdleClaimers {
  readonly #waiting: Entry[] = [];
  #tickets = 0;

  /** Claims waiting now (tests, metrics). */
  get size(): number {
    return this.#waiting.length;
  }

  /** A claim call's place in line, taken once when it begins (wait keeps it). */
  ticket(): number {
    return ++this.#tickets;
  }

  /**
   * `request` waits for work, in line by `ticket`; `woken` is called when an admission takes it (end the claim's
   * wait then).
   */
  wait(request: ClaimRequest, ticket: number, woken: () => void): WaitingClaim {
    let resolve!: (claim: Claim | null) => void;
    const handed = new Promise<Claim | null>((r) => {
      resolve = r;
    });
    const hand = (claim: Claim | null): void => {
      resolve(claim);
      woken();
    };
    const entry: Entry = { request, ticket, handed, hand, taken: false };
    this.#waiting.push(entry);
    return {
      leave: async () => {
        if (entry.taken) return await entry.handed;
        this.#remove(entry);
        return null;
      },
    };
  }

  /** The waiting claim of `pool` that began first, now the caller's to answer (TakenClaim.hand), if any. */
  take(pool: string): TakenClaim | null {
    let entry: Entry | undefined;
    for (const e of this.#waiting) {
      if (e.request.pool === pool && (entry === undefined || e.ticket < entry.ticket)) entry = e;
    }
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
