/**
 * What this process's own token takes left in each rate bucket, so the submission gate (peekTokens) can skip its
 * database read while a bucket plainly still holds tokens. The database stays the one truth: every take and
 * every refusal is decided by the statement that takes the token, inside the admission's transaction. The mirror
 * only ever answers "a token is surely left"; anything else (unknown bucket, fewer than one token, an entry
 * older than MIRROR_MS) is read from the database, exactly as before.
 *
 * Levels come from the statements that take: `takeBucketToken` returns what it left, and on Postgres the
 * admission's server function takes inside it, so its statement reports what each take left beside its answer
 * (job-sql.ts admitRatedLevels).
 *
 * On SQLite it is a lower bound of the real level for this process: it never adds the refill since the take,
 * a take that is later rolled back (a quota refusal) or refunded only leaves more tokens than it says, and
 * takes are recorded in the order they ran (the statements run one at a time on the one connection). On
 * Postgres admissions run on several connections at once, so the level recorded last may be one that a
 * concurrent take already lowered. Takes by another process sharing the database are not seen either. In both
 * cases, for at most MIRROR_MS, the gate may let a submission through to the admission, whose own take then
 * refuses it with the same 429. That refusal drops the buckets it named (`forget`): the gate reads again from
 * the next submission on, rather than vouching for the rest of MIRROR_MS during the very flood it is for. A take
 * that began before the refusal and answers after it does not vouch again: each entry keeps the observation of
 * the latest-begun admission (`at`, the admission's own clock reading).
 */

/** How long a recorded level may stand in for a read. */
export const MIRROR_MS = 1000;
/** Buckets remembered at most (two per active user); the mirror starts over when full. */
export const MIRROR_MAX_BUCKETS = 20_000;

export class BucketMirror {
  readonly #levels = new Map<string, { tokens: number; at: number }>();

  /**
   * Bucket `key` held `tokens` right after a take by an admission that began at `at`. An answer that arrives
   * after one from a later admission (Postgres: concurrent connections) is older news and is ignored; at the
   * same `at` the lower level stands.
   */
  record(key: string, tokens: number, at: number): void {
    const held = this.#levels.get(key);
    if (held !== undefined && (held.at > at || (held.at === at && held.tokens <= tokens))) return;
    if (held === undefined && this.#levels.size >= MIRROR_MAX_BUCKETS) this.#levels.clear();
    this.#levels.set(key, { tokens, at });
  }

  /**
   * Bucket `key` refused a take (or may have) by an admission that began at `at`: nothing is vouched for it until
   * a take that began later (a take that began before, answering after this, does not vouch again).
   */
  forget(key: string, at: number): void {
    this.record(key, 0, at);
  }

  /** True when this process's last take from `key`, at most MIRROR_MS before `now`, left at least one token. */
  surelyHasToken(key: string, now: number): boolean {
    const level = this.#levels.get(key);
    if (level === undefined) return false;
    const age = now - level.at;
    return age >= 0 && age <= MIRROR_MS && level.tokens >= 1;
  }
}
