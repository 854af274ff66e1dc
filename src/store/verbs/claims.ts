/**
 * Fair claims and leases. A claim walks the users who have queued jobs level by level (fewest running
 * first) and, within a level, takes the highest-priority then oldest job the worker can load (placement:
 * its files are on the worker or fetchable by it); bounded affinity may then prefer a job whose model the
 * worker holds. On Postgres the picks skip rows another replica has locked, so two replicas never claim the
 * same job.
 */
import { z } from 'zod';
import type { Job, JobProgress } from '../../jobs/types.js';
import type { ClaimOptions, LeaseState } from '../contract.js';
import { inTx, run, type Conn, type StoreContext } from '../context.js';
import { settleTransition, transitionRow } from './settle.js';

const levelSchema = z.object({ running: z.number().nullable() });
const cancelFlagSchema = z.object({ cancel_requested: z.number() });
const pickSchema = z.object({
  id: z.string(),
  models: z.string(),
  affinity_passed_at: z.coerce.number().nullable(),
});
const tierSchema = z.object({ tier: z.coerce.number() });
const idSchema = z.object({ id: z.string() });

/** Bounds the level walk; beyond it the fallback's full fairness order decides. */
const MAX_LEVELS = 32;

type Pick = z.infer<typeof pickSchema>;

/** The fair pick among jobs this worker can load: the level walk, then the full fairness order. */
async function fairPick(ctx: StoreContext, tx: Conn, workerId: string, pool: string): Promise<Pick | null> {
  let after = -1;
  for (let i = 0; i < MAX_LEVELS; i++) {
    const { running } = levelSchema.parse((await run(tx, ctx.sql.nextWaitingLevel, [after]))[0]);
    if (running === null) break;
    const row = (await run(tx, ctx.sql.pickAtLevel, [workerId, pool, running]))[0];
    if (row !== undefined) return pickSchema.parse(row);
    after = running;
  }
  // Counters moved since a level was read (another replica claimed or finished), or the walk ran long:
  // fall back to the full fairness order, which needs no counter snapshot.
  const row = (await run(tx, ctx.sql.pickAny, [workerId, pool]))[0];
  return row === undefined ? null : pickSchema.parse(row);
}

/**
 * Bounded affinity: when the fair pick needs a model the worker does not hold in VRAM, the fairest job it
 * holds closer (VRAM, then disk) goes first — unless affinity first passed the fair pick over
 * `affinityMs` or more ago. Returns the id to claim.
 */
async function affinityPick(
  ctx: StoreContext,
  tx: Conn,
  fair: Pick,
  workerId: string,
  pool: string,
  affinityMs: number,
  now: number,
): Promise<string> {
  if (affinityMs <= 0 || fair.models === '[]') return fair.id;
  if (fair.affinity_passed_at !== null && fair.affinity_passed_at <= now - affinityMs) return fair.id;
  const { tier } = tierSchema.parse((await run(tx, ctx.sql.pickTier, [workerId, fair.id]))[0]);
  if (tier === 0) return fair.id;
  const row = (await run(tx, ctx.sql.pickAffinity, [workerId, pool, fair.id, tier]))[0];
  if (row === undefined) return fair.id;
  await run(tx, ctx.sql.markPassed, [now, fair.id]);
  return idSchema.parse(row).id;
}

/** Store.claimNext: see the contract. */
export async function claimNext(
  ctx: StoreContext,
  workerId: string,
  pool: string,
  leaseMs: number,
  now: number,
  options: ClaimOptions = {},
): Promise<Job | null> {
  const affinityMs = options.affinityMaxDelayMs ?? 0;
  if (ctx.caps.serverFunctions) {
    // The same walk, affinity, CAS and settlement server-side (migration 004): one autocommit round trip.
    const params = [workerId, now + leaseMs, now, pool, MAX_LEVELS, affinityMs];
    const row = (await run(ctx.db, ctx.sql.claimFunction, params))[0];
    return row === undefined ? null : transitionRow(row).job;
  }
  return await inTx(ctx, async (tx) => {
    const fair = await fairPick(ctx, tx, workerId, pool);
    if (fair === null) return null;
    const id = await affinityPick(ctx, tx, fair, workerId, pool, affinityMs, now);
    const row = (await run(tx, ctx.sql.startPicked, [workerId, now + leaseMs, now, id]))[0];
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
