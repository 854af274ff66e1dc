/**
 * Fair claims and leases. A claim walks the users who have queued jobs level by level (fewest running
 * first) and, within a level, takes the highest-priority then oldest claimable job; on Postgres the pick
 * skips rows another replica has locked, so two replicas never claim the same job.
 */
import { z } from 'zod';
import type { Job, JobProgress } from '../../jobs/types.js';
import type { LeaseState } from '../contract.js';
import { inTx, run, type Conn, type StoreContext } from '../context.js';
import { settleTransition, transitionRow } from './settle.js';

const levelSchema = z.object({ running: z.number().nullable() });
const cancelFlagSchema = z.object({ cancel_requested: z.number() });

/** Bounds the level walk; beyond it the fallback's full fairness order decides. */
const MAX_LEVELS = 32;

async function claimRow(
  ctx: StoreContext,
  tx: Conn,
  start: unknown[],
  pool: string | null,
): Promise<unknown> {
  let after = -1;
  for (let i = 0; i < MAX_LEVELS; i++) {
    const { running } = levelSchema.parse((await run(tx, ctx.sql.nextWaitingLevel, [after]))[0]);
    if (running === null) break;
    const row = (await run(tx, ctx.sql.claimAtLevel, [...start, pool, running]))[0];
    if (row !== undefined) return row;
    after = running;
  }
  // Counters moved since a level was read (another replica claimed or finished), or the walk ran long:
  // fall back to the full fairness order, which needs no counter snapshot.
  return (await run(tx, ctx.sql.claimAny, [...start, pool]))[0];
}

/** Store.claimNext: see the contract. */
export async function claimNext(
  ctx: StoreContext,
  workerId: string,
  pool: string | null,
  leaseMs: number,
  now: number,
): Promise<Job | null> {
  if (ctx.caps.serverFunctions) {
    // The same walk, CAS and settlement server-side (migration 002): one autocommit round trip.
    const params = [workerId, now + leaseMs, now, pool, MAX_LEVELS];
    const row = (await run(ctx.db, ctx.sql.claimFunction, params))[0];
    return row === undefined ? null : transitionRow(row).job;
  }
  return await inTx(ctx, async (tx) => {
    const row = await claimRow(ctx, tx, [workerId, now + leaseMs, now], pool);
    return row === undefined ? null : await settleTransition(ctx, tx, row, false, now);
  });
}

/** Store.renewLease: see the contract. */
export async function renewLease(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  leaseMs: number,
  now: number,
): Promise<LeaseState> {
  const rows = await ctx.db
    .updateTable('jobs')
    .set({ lease_expires_at: now + leaseMs })
    .where('id', '=', jobId)
    .where('status', '=', 'running')
    .where('worker_id', '=', workerId)
    .returning('cancel_requested')
    .execute();
  const row = rows[0];
  if (row === undefined) return 'lost';
  return cancelFlagSchema.parse(row).cancel_requested !== 0 ? 'cancel_requested' : 'held';
}

/** Store.updateProgress: see the contract. */
export async function updateProgress(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  progress: JobProgress,
): Promise<boolean> {
  const result = await ctx.db
    .updateTable('jobs')
    .set({ progress: JSON.stringify(progress) })
    .where('id', '=', jobId)
    .where('status', '=', 'running')
    .where('worker_id', '=', workerId)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
