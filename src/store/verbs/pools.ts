/**
 * Pools in the jobs table. Admission stores every job with a concrete pool; only rows written before that rule
 * (when a NULL pool meant "any worker") lack one, and the store cannot know the operator's default pool, so
 * serve adopts them at start instead of a migration.
 */
import type { StoreContext } from '../context.js';

/** Store.adoptUnpooledJobs: NULL pool → `pool`, for every job (finished ones too: usage counts them by pool). */
export async function adoptUnpooledJobs(ctx: StoreContext, pool: string): Promise<number> {
  const result = await ctx.db.updateTable('jobs').set({ pool }).where('pool', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows);
}
