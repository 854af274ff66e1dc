/** Token buckets shared by every replica: one row per key, refilled lazily from its last update time. */
import { z } from 'zod';
import type { RateDecision } from '../contract.js';
import { inTx, type StoreContext } from '../context.js';

const bucketSchema = z.object({ tokens: z.number(), updated_at: z.number() });

/** Store.takeToken: the row is locked (FOR UPDATE, or SQLite's write lock) while it is read and written. */
export async function takeToken(
  ctx: StoreContext,
  key: string,
  ratePerSecond: number,
  burst: number,
  now: number,
): Promise<RateDecision> {
  return await inTx(ctx, async (tx) => {
    await tx
      .insertInto('rate_buckets')
      .values({ key, tokens: burst, updated_at: now })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    let read = tx.selectFrom('rate_buckets').select(['tokens', 'updated_at']).where('key', '=', key);
    if (ctx.caps.rowLocks) read = read.forUpdate();
    const bucket = bucketSchema.parse(await read.executeTakeFirstOrThrow());
    const elapsed = Math.max(0, now - bucket.updated_at);
    const available = Math.min(burst, bucket.tokens + (elapsed * ratePerSecond) / 1000);
    const allowed = available >= 1;
    const tokens = allowed ? available - 1 : available;
    await tx
      .updateTable('rate_buckets')
      .set({ tokens, updated_at: Math.max(now, bucket.updated_at) })
      .where('key', '=', key)
      .execute();
    const retryAfterMs =
      allowed || ratePerSecond <= 0 ? 0 : Math.ceil(((1 - available) * 1000) / ratePerSecond);
    return { allowed, retryAfterMs: allowed ? 0 : Math.max(1, retryAfterMs) };
  });
}
