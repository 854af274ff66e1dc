/** Jobs whose URL inputs are fetched after admission: leased to a fetcher, then made claimable. */
import type { Job, JobInput } from '../../jobs/types.js';
import { inTx, type StoreContext } from '../context.js';
import { toJob } from '../rows.js';
import { leaseBatch } from './lease-batch.js';

/** Store.claimInputFetches: SKIP LOCKED on Postgres so two replicas never fetch the same job's inputs. */
export async function claimInputFetches(
  ctx: StoreContext,
  owner: string,
  limit: number,
  leaseMs: number,
  now: number,
): Promise<Job[]> {
  return await inTx(ctx, async (tx) => {
    const pick = tx
      .selectFrom('jobs')
      .select('id')
      .where('status', '=', 'queued')
      .where('inputs_ready', '=', 0)
      .where((eb) =>
        eb.or([eb('fetch_lease_expires_at', 'is', null), eb('fetch_lease_expires_at', '<', now)]),
      )
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit);
    const rows = await leaseBatch(ctx, pick, (ids) =>
      tx
        .updateTable('jobs')
        .set({ fetch_lease_owner: owner, fetch_lease_expires_at: now + leaseMs })
        .where('id', 'in', ids)
        .returningAll()
        .execute(),
    );
    return rows.map(toJob).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  });
}

/** Store.markInputsReady: no-op unless the job is still queued. */
export async function markInputsReady(
  ctx: StoreContext,
  jobId: string,
  inputs: JobInput[],
): Promise<boolean> {
  const result = await ctx.db
    .updateTable('jobs')
    .set({
      inputs: JSON.stringify(inputs),
      inputs_ready: 1,
      fetch_lease_owner: null,
      fetch_lease_expires_at: null,
    })
    .where('id', '=', jobId)
    .where('status', '=', 'queued')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
