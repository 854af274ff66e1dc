/**
 * Token buckets shared by every replica: one row per key, refilled lazily from its last update time.
 * The happy path is one upsert per bucket (refill, check and take in a single statement).
 */
import { z } from 'zod';
import type { RateDecision, TokenRequest } from '../contract.js';
import { inTx, run, type Conn, type StoreContext } from '../context.js';

const bucketSchema = z.object({ tokens: z.number(), updated_at: z.number() });

/** Milliseconds until bucket `r` (which refused) holds one token again. */
async function waitFor(ctx: StoreContext, tx: Conn, r: TokenRequest, now: number): Promise<number> {
  const row = (await run(tx, ctx.sql.bucketLevel, [r.key]))[0];
  if (row === undefined || r.ratePerSecond <= 0) return 60_000;
  const bucket = bucketSchema.parse(row);
  const level = Math.min(
    r.burst,
    bucket.tokens + (Math.max(0, now - bucket.updated_at) * r.ratePerSecond) / 1000,
  );
  return Math.max(1, Math.ceil(((1 - level) * 1000) / r.ratePerSecond));
}

/**
 * Store.takeTokens: one token from every bucket, or from none. Buckets are taken in the given order (callers
 * keep one order, so replicas never deadlock); when one refuses, the tokens already taken are given back.
 */
export async function takeTokens(
  ctx: StoreContext,
  requests: readonly TokenRequest[],
  now: number,
): Promise<RateDecision> {
  return await inTx(ctx, async (tx) => {
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
  });
}
