/**
 * Fair claims and leases. A claim walks the users who have queued jobs level by level (fewest running
 * first) and, within a level, takes the highest-priority then oldest job the worker can load (placement:
 * its files are on the worker or fetchable by it); bounded affinity may then prefer a job whose model the
 * worker holds. On Postgres the picks skip rows another replica has locked, so two replicas never claim the
 * same job.
 */
import { z } from 'zod';
import type { JobProgress } from '../../jobs/types.js';
import type { Claim, ClaimOptions, ClaimRequest, JobEvent, LeaseState } from '../contract.js';
import { run, runOne, writeSteps, type StoreContext } from '../context.js';
import { step, type Steps } from '../direct.js';
import { writtenEvent } from '../job-event-row.js';
import { isRecord } from '../row-checks.js';
import { fileNodeAllowlistOf } from './accounts.js';
import { seqSchema, settleSteps, transitionRow } from './settle.js';

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

/** The fair pick among jobs this worker can load (only those affinity has not passed over when `unpassed`):
 *  the level walk, then the full fairness order. */
function* fairPick(ctx: StoreContext, workerId: string, pool: string, unpassed = false): Steps<Pick | null> {
  const atLevel = unpassed ? ctx.sql.pickAtLevelUnpassed : ctx.sql.pickAtLevel;
  let after = -1;
  for (let i = 0; i < MAX_LEVELS; i++) {
    const { running } = levelSchema.parse((yield step(ctx.sql.nextWaitingLevel, [after]))[0]);
    if (running === null) break;
    const row = (yield step(atLevel, [workerId, pool, running]))[0];
    if (row !== undefined) return pickSchema.parse(row);
    after = running;
  }
  // Counters moved since a level was read (another replica claimed or finished), or the walk ran long:
  // fall back to the full fairness order, which needs no counter snapshot.
  const row = (yield step(unpassed ? ctx.sql.pickAnyUnpassed : ctx.sql.pickAny, [workerId, pool]))[0];
  return row === undefined ? null : pickSchema.parse(row);
}

/**
 * The fairest job other than `dueId` that the worker holds closer than `tier` (VRAM, then disk): per tier a
 * level walk whose each step seeks the queue head of every model the worker holds (indexed, migration 009),
 * so the cost follows the worker's models, not the queue depth. Same order as pickAffinity, its fallback.
 */
function* closerPick(
  ctx: StoreContext,
  workerId: string,
  pool: string,
  dueId: string,
  tier: number,
): Steps<string | null> {
  for (let t = 0; t < tier; t++) {
    const [head, names] =
      t === 0 ? [ctx.sql.pickWarmHead, [workerId]] : [ctx.sql.pickHeldHead, [workerId, workerId, workerId]];
    let after = -1;
    for (let i = 0; ; i++) {
      if (i === MAX_LEVELS) {
        const row = (yield step(ctx.sql.pickAffinity, [workerId, pool, dueId, tier]))[0];
        return row === undefined ? null : idSchema.parse(row).id;
      }
      const { running } = levelSchema.parse((yield step(ctx.sql.nextWaitingLevel, [after]))[0]);
      if (running === null) break;
      const row = (yield step(head, [...names, workerId, pool, dueId, running, t]))[0];
      if (row !== undefined) return idSchema.parse(row).id;
      after = running;
    }
  }
  return null;
}

/**
 * Bounded affinity (docs/models.md, "The bound, exactly"). Plain fair order hands this claim the "due" job: the fairest
 * one affinity has not passed over yet (a passed-over job counts as handed out when it was passed over). A job
 * passed over `affinityMs` or more ago goes first, fairest first. Else, when the due job needs a model the
 * worker does not hold in VRAM, the fairest job it holds closer goes instead, or — nothing closer — the fairest
 * job of all (one passed over earlier, when there is one); either way the due job's clock starts then.
 * Returns the id to claim, or null when the worker can load nothing.
 */
function* affinityPick(
  ctx: StoreContext,
  workerId: string,
  pool: string,
  affinityMs: number,
  now: number,
): Steps<string | null> {
  const overdue = (yield step(ctx.sql.pickOverdue, [workerId, pool, now - affinityMs]))[0];
  if (overdue !== undefined) return idSchema.parse(overdue).id;
  const fair = yield* fairPick(ctx, workerId, pool);
  if (fair === null) return null;
  const due = fair.affinity_passed_at === null ? fair : yield* fairPick(ctx, workerId, pool, true);
  // Every job left was passed over within the bound: plain fair order among them.
  if (due === null || due.models === '[]') return (due ?? fair).id;
  const { tier } = tierSchema.parse((yield step(ctx.sql.pickTier, [workerId, due.id]))[0]);
  if (tier === 0) return due.id;
  const pick = (yield* closerPick(ctx, workerId, pool, due.id, tier)) ?? fair.id;
  if (pick !== due.id) yield step(ctx.sql.markPassed, [now, due.id]);
  return pick;
}

/** Store.claimJob: see the contract. */
export async function claimJob(
  ctx: StoreContext,
  workerId: string,
  pool: string,
  leaseMs: number,
  now: number,
  options: ClaimOptions = {},
): Promise<Claim | null> {
  if (ctx.caps.serverFunctions) {
    const affinityMs = options.affinityMaxDelayMs ?? 0;
    // The same walk, affinity, CAS and settlement server-side (migration 009), and the account's list read by
    // the same statement: one autocommit round trip.
    const params = [workerId, now + leaseMs, now, pool, MAX_LEVELS, affinityMs, options.claimId ?? null];
    const row = (await run(ctx.db, ctx.sql.claimFunction, params))[0];
    return row === undefined ? null : { job: transitionRow(row).job, fileNodeAllowlist: allowlistOf(row) };
  }
  // An empty queue (every claim of an idle worker, and the first one after each job) costs one indexed read
  // rather than the write lock and a commit: on SQLite that read is a tenth of an empty claim, and the claim
  // that follows a job no longer holds up the requests of the job's client (its output download). A job
  // committed after this read wakes the claimer through the bus (its waiter is made before the claim).
  if ((await runOne(ctx, ctx.sql.anyClaimable, [])).length === 0) return null;
  // One write transaction, synchronous where the dialect runs in-process (SQLite): no turn of the event loop
  // between a claim's statements.
  return await writeSteps(ctx, () => claimSteps(ctx, { workerId, pool, leaseMs, options }, now));
}

/**
 * A claim's statements on a dialect without server functions, as steps of the caller's transaction (claimJob's
 * own, or an admission's: Store.admitJob `claimFor`).
 */
export function* claimSteps(ctx: StoreContext, claim: ClaimRequest, now: number): Steps<Claim | null> {
  const { workerId, pool, leaseMs, options } = claim;
  const affinityMs = options.affinityMaxDelayMs ?? 0;
  const id =
    affinityMs > 0
      ? yield* affinityPick(ctx, workerId, pool, affinityMs, now)
      : ((yield* fairPick(ctx, workerId, pool))?.id ?? null);
  if (id === null) return null;
  const params = [workerId, now + leaseMs, now, options.claimId ?? null, id];
  const row = (yield step(ctx.sql.startPicked, params))[0];
  if (row === undefined) return null;
  const job = yield* settleSteps(ctx, row, false, now);
  const account = (yield step(ctx.sql.accountFileNodeAllowlist, [job.accountId]))[0];
  return { job, fileNodeAllowlist: allowlistOf(account) };
}

/** The claimed job's account's list; none when the account is gone (its jobs cannot be claimed then anyway). */
function allowlistOf(row: unknown): string[] {
  return isRecord(row) && row.file_node_allowlist != null ? fileNodeAllowlistOf(row) : [];
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

/**
 * Records `progress` (JSON) while `workerId` holds the job, with its `progress` event: the row's update takes
 * the event's seq. False (nothing written) when the worker does not hold the job, or, with `onlyIfNew`, when
 * the job's progress is already this one. Part of a caller's transaction; `appended` (when given) gets the event.
 */
export function* progressSteps(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  data: string,
  now: number,
  onlyIfNew = false,
  appended?: JobEvent[],
): Steps<boolean> {
  const update = onlyIfNew
    ? step(ctx.sql.newProgressHeld, [data, jobId, workerId, data])
    : step(ctx.sql.progressHeld, [data, jobId, workerId]);
  const row = (yield update)[0];
  if (row === undefined) return false;
  const seq = seqSchema.parse(row).event_seq;
  yield step(ctx.sql.insertEvent, [jobId, seq, 'progress', data, now]);
  appended?.push(writtenEvent(jobId, seq, 'progress', data, now));
  return true;
}

/** Store.updateProgress: see the contract. One commit. */
export async function updateProgress(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  progress: JobProgress,
  now: number,
): Promise<boolean> {
  const data = JSON.stringify(progress);
  return await writeSteps(ctx, () => progressSteps(ctx, jobId, workerId, data, now));
}
