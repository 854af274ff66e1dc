/**
 * Submit-rate limits: token buckets per user and per account, kept in the database so every replica
 * draws from the same bucket. A refusal is 429 `rate_limited` with Retry-After — distinct from
 * 429 `quota_exceeded`, which is about active jobs, not request rate.
 */
import { ApiError } from '../errors.js';
import type { Account } from '../jobs/types.js';
import type { Store } from '../store/contract.js';

/** An account-wide bucket this many times a single user's, so one account cannot flood the store. */
export const ACCOUNT_RATE_FACTOR = 20;

/** Takes a token from the user's and the account's bucket together; throws `rate_limited` when either is empty. */
export async function enforceSubmitRate(
  store: Store,
  account: Account,
  userId: string,
  now: number,
): Promise<void> {
  const { submit_rate_per_user: rate, submit_burst_per_user: burst } = account.limits;
  const decision = await store.takeTokens(
    [
      { key: `submit:u:${account.id}:${userId}`, ratePerSecond: rate, burst },
      {
        key: `submit:a:${account.id}`,
        ratePerSecond: rate * ACCOUNT_RATE_FACTOR,
        burst: burst * ACCOUNT_RATE_FACTOR,
      },
    ],
    now,
  );
  if (!decision.allowed) {
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new ApiError(
      'rate_limited',
      `Too many submissions; retry after ${seconds} s.`,
      { retry_after_s: seconds },
      { 'retry-after': String(seconds) },
    );
  }
}
