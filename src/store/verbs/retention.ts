/** Retention: finished jobs whose stored objects are due for deletion. */
import type { Job } from '../../jobs/types.js';
import type { StoreContext } from '../context.js';
import { toJob } from '../rows.js';

/** Store.listJobsForSweep: oldest finished first. */
export async function listJobsForSweep(ctx: StoreContext, before: number, limit: number): Promise<Job[]> {
  const rows = await ctx.db
    .selectFrom('jobs')
    .selectAll()
    .where('finished_at', 'is not', null)
    .where('swept_at', 'is', null)
    .where('finished_at', '<', before)
    .orderBy('finished_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toJob);
}

/** Store.markJobSwept. */
export async function markJobSwept(ctx: StoreContext, jobId: string, now: number): Promise<void> {
  await ctx.db.updateTable('jobs').set({ swept_at: now }).where('id', '=', jobId).execute();
}
