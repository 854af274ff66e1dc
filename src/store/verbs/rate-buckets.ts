/**
 * Token buckets shared by every replica: one row per key, refilled lazily from its last update time.
 * The happy path is one upsert per bucket (refill, check and take in a single statement). Admission takes its
 * tokens inside its own transaction (takeTokensIn), so a submission costs one commit, not two.
 */
import { z } from 'zod';
import type { RateDecision, TokenRequest } from '../contract.js';
import { inTx, run, type Conn, type StoreContext } from '../context.js';

const bucketSchema = z.object({ tokens: z.number(), updated_at: z.number() });

/** The level of bucket `r` at `now` (refilled, capped at the burst); a bucket never used is full. */
async function levelOf(ctx: StoreContext, conn: Conn, r: TokenRequest, now: number): Promise<number | null> {
  const row = (await run(conn, ctx.sql.bucketLevel, [r.key]))[0];
  if (row === undefined) return null;
  const bucket = bucketSchema.parse(row);
  return Math.min(r.burst, bucket.tokens + (Math.max(0, now - bucket.updated_at) * r.ratePerSecond) / 1000);
}

/** Milliseconds until bucket `r` (which refused) holds one token again. */
async function waitFor(ctx: StoreContext, conn: Conn, r: TokenRequest, now: number): Promise<number> {
  const level = await levelOf(ctx, conn, r, now);
  if (level === null || r.ratePerSecond <= 0) return 60_000;
  return Math.max(1, Math.ceil(((1 - level) * 1000) / r.ratePerSecond));
}

/**
 * One token from every bucket inside the caller's transaction `tx`. On a refusal the tokens already taken are
 * given back, so the caller may commit or roll back; buckets are taken in the given order (callers keep one
 * order, so replicas never deadlock).
 */
export async function takeTokensIn(
  ctx: StoreContext,
  tx: Conn,
  requests: readonly TokenRequest[],
  now: number,
): Promise<RateDecision> {
  const taken: TokenRequest[] = [];
  for (const r of requests) {
    const rate = r.ratePerSecond;
    const rows = await run(tx, ctx.sql.takeBucketToken, [r.key, r.burst, now, rate, rate, rate, rate]);
    if (rows.length === 0) {
      for (const t of taken) await run(tx, ctx.sql.refundBucketToken, [t.key]);
      return { allowed: false, retryAfterMs: await waitFor(ctx, tx, r, now) };
    }
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
  return await inTx(ctx, (tx) => takeTokensIn(ctx, tx, requests, now));
}

/** Store.peekTokens: plain reads, no transaction and no write; the longest wait of the empty buckets. */
export async function peekTokens(
  ctx: StoreContext,
  requests: readonly TokenRequest[],
  now: number,
): Promise<RateDecision> {
  let retryAfterMs = 0;
  for (const r of requests) {
    const level = await levelOf(ctx, ctx.db, r, now);
    if (level !== null && level < 1)
      retryAfterMs = Math.max(retryAfterMs, await waitFor(ctx, ctx.db, r, now));
  }
  return { allowed: retryAfterMs === 0, retryAfterMs };
}
