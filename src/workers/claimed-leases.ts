/**
 * The leases this replica's WorkerService handed out, so a worker's output upload can name its file's key
 * without reading the lease first: the claim said which attempt the worker runs. Only ever a hint that saves
 * that first read. The check after the bytes are written still reads the lease and refuses (deleting the file)
 * when the worker no longer holds that attempt, as it did when the first read had passed and the lease went
 * while the bytes were written. Used for in-process agents only (WorkerService.storeOutput's `via`): a remote
 * agent's reports reach any replica, so this replica may not see its run end or its job claimed again elsewhere,
 * and its upload reads the lease first, as before.
 */

/** Leases remembered at most (one per running job of this replica's workers); the oldest goes first. */
export const CLAIMED_LEASES_MAX = 10_000;

export class ClaimedLeases {
  readonly #byJob = new Map<string, { workerId: string; attempts: number }>();

  /** `workerId` claimed `jobId`, its attempt number `attempts`. */
  claimed(jobId: string, workerId: string, attempts: number): void {
    this.#byJob.delete(jobId);
    if (this.#byJob.size >= CLAIMED_LEASES_MAX) {
      const oldest = this.#byJob.keys().next();
      if (oldest.done !== true) this.#byJob.delete(oldest.value);
    }
    this.#byJob.set(jobId, { workerId, attempts });
  }

  /** The attempt `workerId` was handed of `jobId` by this replica's last claim of it; null when none is known. */
  attemptOf(jobId: string, workerId: string): number | null {
    const lease = this.#byJob.get(jobId);
    return lease !== undefined && lease.workerId === workerId ? lease.attempts : null;
  }

  /** The job's run ended (or was given back): nothing to remember. */
  ended(jobId: string): void {
    this.#byJob.delete(jobId);
  }
}
