/**
 * Submit-rate limits: token buckets per user and per account, kept in the database so every replica
 * draws from the same bucket. A refusal is 429 `rate_limited` with Retry-After — distinct from
 * 429 `quota_exceeded`, which is about active jobs, not request rate.
 *
 * A submission is one commit: its tokens are taken inside the admission transaction (Store.admitJob with
 * `rate`). Before the body is worked on, an empty bucket is refused by a plain read (checkSubmitRate); a
 * submission refused after that gate for another reason is charged its token on that error path
 * (chargeSubmitRate), so every submission past the gate costs exactly one token, as when the gate took it —
 * except one answered 503 `not_ready` (the database did not answer), which the client retries and which costs none.
 */
import { ApiError } from '../errors.js';
import type { Account } from '../jobs/types.js';
import type { Store, TokenRequest } from '../store/contract.js';

/** An account-wide bucket this many times a single user's, so one account cannot flood the store. */
export const ACCOUNT_RATE_FACTOR = 20;

/** The user's and the account's submit buckets, in the one order every replica takes them. */
export function submitBuckets(account: Account, userId: string): TokenRequest[] {
  const { submit_rate_per_user: rate, submit_burst_per_user: burst } = account.limits;
  return [
    { key: `submit:u:${account.id}:${userId}`, ratePerSecond: rate, burst },
    {
      key: `submit:a:${account.id}`,
      ratePerSecond: rate * ACCOUNT_RATE_FACTOR,
      burst: burst * ACCOUNT_RATE_FACTOR,
    },
  ];
}

/** 429 `rate_limited` with a Retry-After of at least one second. */
export function rateLimited(retryAfterMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError(
    'rate_limited',
    `Too many submissions; retry after ${seconds} s.`,
    { retry_after_s: seconds },
    { 'retry-after': String(seconds) },
  );
}

/** The early gate: throws `rate_limited` when either bucket is empty now; takes nothing. */
export async function checkSubmitRate(
  store: Store,
  account: Account,
  userId: string,
  now: number,
): Promise<void> {
  const decision = await store.peekTokens(submitBuckets(account, userId), now);
  if (!decision.allowed) throw rateLimited(decision.retryAfterMs);
}

/**
 * Takes the token of a submission refused before its admission. Nothing to take when a bucket is empty: the
 * refusal is answered either way, so the decision is not looked at.
 */
export async function chargeSubmitRate(
  store: Store,
  account: Account,
  userId: string,
  now: number,
): Promise<void> {
  await store.takeTokens(submitBuckets(account, userId), now);
}
