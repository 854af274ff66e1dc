/**
 * Token buckets shared by every replica: one row per key, refilled lazily from its last update time.
 * The happy path is one upsert per bucket (refill, check and take in a single statement). Admission takes its
 * tokens inside its own transaction (takeTokenSteps), so a submission costs one commit, not two.
 */
import { z } from 'zod';
import type { RateDecision, TokenRequest } from '../contract.js';
import { readSteps, writeSteps, type StoreContext } from '../context.js';
import { step, type Steps } from '../direct.js';

const bucketSchema = z.object({ tokens: z.number(), updated_at: z.number() });
const takenSchema = z.object({ tokens: z.number() });

/** The level of bucket `r` at `now` (refilled, capped at the burst); a bucket never used is full. */
function* levelOf(ctx: StoreContext, r: TokenRequest, now: number): Steps<number | null> {
  const row = (yield step(ctx.sql.bucketLevel, [r.key]))[0];
  if (row === undefined) return null;
  const bucket = bucketSchema.parse(row);
  return Math.min(r.burst, bucket.tokens + (Math.max(0, now - bucket.updated_at) * r.ratePerSecond) / 1000);
}

/** Milliseconds until bucket `r`, at `level` (null: no row), holds one token again. */
function waitFrom(r: TokenRequest, level: number | null): number {
  if (level === null || r.ratePerSecond <= 0) return 60_000;
  return Math.max(1, Math.ceil(((1 - level) * 1000) / r.ratePerSecond));
}

/** Milliseconds until bucket `r` (which refused) holds one token again. */
function* waitFor(ctx: StoreContext, r: TokenRequest, now: number): Steps<number> {
  return waitFrom(r, yield* levelOf(ctx, r, now));
}

/**
 * One token from every bucket, as steps of the caller's transaction. On a refusal the tokens already taken are
 * given back, so the caller may commit or roll back; buckets are taken in the given order (callers keep one
 * order, so replicas never deadlock).
 */
export function* takeTokenSteps(
  ctx: StoreContext,
  requests: readonly TokenRequest[],
  now: number,
): Steps<RateDecision> {
  const taken: TokenRequest[] = [];
  for (const r of requests) {
    const rate = r.ratePerSecond;
    const rows = yield step(ctx.sql.takeBucketToken, [r.key, r.burst, now, rate, rate, rate, rate]);
    if (rows.length === 0) {
      ctx.buckets?.forget(r.key, now);
      for (const t of taken) yield step(ctx.sql.refundBucketToken, [t.key]);
      return { allowed: false, retryAfterMs: yield* waitFor(ctx, r, now) };
    }
    if (ctx.buckets !== undefined) ctx.buckets.record(r.key, takenSchema.parse(rows[0]).tokens, now);
    taken.push(r);
  }
  return { allowed: true, retryAfterMs: 0 };
}

/** Store.takeTokens: one token from every bucket, or from none, in a transaction of its own. */
export async function takeTokens(
  ctx: StoreContext,
  requests: readonly TokenRequest[],
  now: number,
): Promise<RateDecision> {
  return await writeSteps(ctx, () => takeTokenSteps(ctx, requests, now));
}

function* peekSteps(ctx: StoreContext, requests: readonly TokenRequest[], now: number): Steps<RateDecision> {
  let retryAfterMs = 0;
  for (const r of requests) {
    const level = yield* levelOf(ctx, r, now);
    // The level just read gives the wait: no second read of the same row.
    if (level !== null && level < 1) retryAfterMs = Math.max(retryAfterMs, waitFrom(r, level));
  }
  return { allowed: retryAfterMs === 0, retryAfterMs };
}

/**
 * Store.peekTokens: plain reads, no write; the longest wait of the empty buckets. No read at all while this
 * process's own last takes left a token in every bucket (bucket-mirror.ts).
 */
export async function peekTokens(
  ctx: StoreContext,
  requests: readonly TokenRequest[],
  now: number,
): Promise<RateDecision> {
  const mirror = ctx.buckets;
  if (mirror !== undefined && requests.every((r) => mirror.surelyHasToken(r.key, now))) {
    return { allowed: true, retryAfterMs: 0 };
  }
  return await readSteps(ctx, () => peekSteps(ctx, requests, now));
}
