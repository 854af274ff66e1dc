/** Reading jobs: by id, by owner, pages for one user, usage and counts. */
import { sql } from 'kysely';
import { z } from 'zod';
import type { Job, JobOutput, JobStatus } from '../../jobs/types.js';
import { JOB_STATUSES } from '../../jobs/types.js';
import type { ClaimedLease, JobLease, JobOutputKeys, ListJobsQuery, PoolUsage, Usage } from '../contract.js';
import { run, runOne, type StoreContext } from '../context.js';
import { jobOutputSchema, parseJson } from '../json-columns.js';
import { toJob } from '../rows.js';
import type { JobView } from '../../jobs/public-job.js';
import { toJobView } from '../job-view-row.js';

/** Store.getJob. */
export async function getJob(ctx: StoreContext, id: string): Promise<Job | null> {
  const row = (await run(ctx.db, ctx.sql.jobById, [id]))[0];
  return row === undefined ? null : toJob(row);
}

const leaseRowSchema = z.object({
  status: z.enum(JOB_STATUSES),
  worker_id: z.string().nullable(),
  attempts: z.number(),
  cancel_requested: z.number(),
});

/** Store.jobLease: four columns, one statement (synchronously where the dialect allows). */
export async function jobLease(ctx: StoreContext, id: string): Promise<JobLease | null> {
  const row = (await runOne(ctx, ctx.sql.jobLease, [id]))[0];
  if (row === undefined) return null;
  const r = leaseRowSchema.parse(row);
  return {
    status: r.status,
    workerId: r.worker_id,
    attempts: r.attempts,
    cancelRequested: r.cancel_requested !== 0,
  };
}

const idRowSchema = z.object({ id: z.string() });

/** Store.jobsHeldBy: the ids of the running jobs whose lease `workerId` holds. */
export async function jobsHeldBy(ctx: StoreContext, workerId: string): Promise<string[]> {
  return (await run(ctx.db, ctx.sql.runningJobsOfWorker, [workerId])).map((r) => idRowSchema.parse(r).id);
}

const claimedLeaseRowSchema = z.object({ id: z.string(), lease_expires_at: z.coerce.number() });

/** Store.leasesOfClaims: indexed by the worker's running jobs (a worker holds one, or a few). */
export async function leasesOfClaims(
  ctx: StoreContext,
  workerId: string,
  claimIds: readonly string[],
): Promise<ClaimedLease[]> {
  if (claimIds.length === 0) return [];
  const rows = await ctx.db
    .selectFrom('jobs')
    .select(['id', 'lease_expires_at'])
    .where('status', '=', 'running')
    .where('worker_id', '=', workerId)
    .where('claim_id', 'in', claimIds)
    .where('lease_expires_at', 'is not', null)
    .orderBy('started_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => {
    const r = claimedLeaseRowSchema.parse(row);
    return { jobId: r.id, leaseExpiresAt: r.lease_expires_at };
  });
}

const outputKeysRowSchema = z.object({
  status: z.enum(JOB_STATUSES),
  attempts: z.number(),
  outputs: z.string(),
});
const outputsSchema = z.array(jobOutputSchema);

/** Store.jobOutputKeys: three columns; `outputs` parsed as getJob parses it, only its keys kept. */
export async function jobOutputKeys(ctx: StoreContext, id: string): Promise<JobOutputKeys | null> {
  const row = (await runOne(ctx, ctx.sql.jobOutputKeys, [id]))[0];
  if (row === undefined) return null;
  const r = outputKeysRowSchema.parse(row);
  const outputs = r.outputs === '[]' ? [] : parseJson(outputsSchema, r.outputs);
  return { status: r.status, attempts: r.attempts, outputKeys: outputs.map((o) => o.objectKey) };
}

/** Store.getJobFor: ownership is part of the lookup, so another user's id reads as missing. */
export async function getJobFor(
  ctx: StoreContext,
  accountId: string,
  userId: string,
  id: string,
): Promise<Job | null> {
  const row = (await run(ctx.db, ctx.sql.jobForOwner, [id, accountId, userId]))[0];
  return row === undefined ? null : toJob(row);
}

/** Store.getJobViewFor: as getJobFor, reading only the columns of the public JSON. */
export async function getJobViewFor(
  ctx: StoreContext,
  accountId: string,
  userId: string,
  id: string,
): Promise<JobView | null> {
  const row = (await runOne(ctx, ctx.sql.jobViewForOwner, [id, accountId, userId]))[0];
  return row === undefined ? null : toJobView(row);
}

const statusRowSchema = z.object({ status: z.enum(JOB_STATUSES) });
const outputsRowSchema = z.object({ outputs: z.string() });

/** Store.jobStatusFor: one column of the caller's own job (ownership is part of the lookup, as getJobFor). */
export async function jobStatusFor(
  ctx: StoreContext,
  accountId: string,
  userId: string,
  id: string,
): Promise<JobStatus | null> {
  const row = (await runOne(ctx, ctx.sql.jobStatusForOwner, [id, accountId, userId]))[0];
  return row === undefined ? null : statusRowSchema.parse(row).status;
}

/** Store.jobOutputsFor: the `outputs` column of the caller's own job, parsed as getJobViewFor parses it. */
export async function jobOutputsFor(
  ctx: StoreContext,
  accountId: string,
  userId: string,
  id: string,
): Promise<JobOutput[] | null> {
  const row = (await runOne(ctx, ctx.sql.jobOutputsForOwner, [id, accountId, userId]))[0];
  if (row === undefined) return null;
  const { outputs } = outputsRowSchema.parse(row);
  // Most jobs a download names have one output; a job without any needs no parse.
  return outputs === '[]' ? [] : parseJson(outputsSchema, outputs);
}

/** Store.listJobs: newest first; ids are time-ordered, so the cursor is the last id seen. */
export async function listJobs(
  ctx: StoreContext,
  query: ListJobsQuery,
): Promise<{ jobs: Job[]; nextCursor: string | null }> {
  let q = ctx.db
    .selectFrom('jobs')
    .selectAll()
    .where('account_id', '=', query.accountId)
    .where('user_id', '=', query.userId);
  if (query.status !== undefined) q = q.where('status', '=', query.status);
  if (query.cursor !== undefined) q = q.where('id', '<', query.cursor);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const jobs = rows.slice(0, query.limit).map(toJob);
  const last = jobs[jobs.length - 1];
  return { jobs, nextCursor: rows.length > query.limit && last !== undefined ? last.id : null };
}

const countSchema = z.object({ n: z.coerce.number() });
const activeSchema = z.object({ active: z.number() });

/** Store.usage: active jobs from the user's counter; today's jobs and run seconds since `dayStart`. */
export async function usage(
  ctx: StoreContext,
  accountId: string,
  userId: string,
  dayStart: number,
): Promise<Usage> {
  const counter = await ctx.db
    .selectFrom('user_counters')
    .select('active')
    .where('account_id', '=', accountId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  const owner = ctx.db.selectFrom('jobs').where('account_id', '=', accountId).where('user_id', '=', userId);
  const created = await owner
    .select(sql<number>`COUNT(*)`.as('n'))
    .where('created_at', '>=', dayStart)
    .executeTakeFirstOrThrow();
  const ran = await owner
    .select(sql<number>`COALESCE(SUM(finished_at - started_at), 0)`.as('n'))
    .where('finished_at', '>=', dayStart)
    .where('started_at', 'is not', null)
    .executeTakeFirstOrThrow();
  return {
    activeJobs: counter === undefined ? 0 : activeSchema.parse(counter).active,
    jobsToday: countSchema.parse(created).n,
    runSecondsToday: countSchema.parse(ran).n / 1000,
  };
}

// SUM over BIGINT is NUMERIC on Postgres, which the driver hands over as a string.
const poolUsageSchema = z.object({
  pool: z.string(),
  n: z.coerce.number(),
  ms: z.coerce.number(),
});

/** Store.accountUsage: jobs that ended since `since` and their run time, per pool. */
export async function accountUsage(
  ctx: StoreContext,
  accountId: string,
  since: number,
): Promise<PoolUsage[]> {
  const rows = await ctx.db
    .selectFrom('jobs')
    .select([
      'pool',
      sql<number>`COUNT(*)`.as('n'),
      sql<number>`COALESCE(SUM(finished_at - started_at), 0)`.as('ms'),
    ])
    .where('account_id', '=', accountId)
    .where('finished_at', '>=', since)
    .where('started_at', 'is not', null)
    .groupBy('pool')
    .execute();
  return rows.map((row) => {
    const r = poolUsageSchema.parse(row);
    return { pool: r.pool, jobs: r.n, runSeconds: r.ms / 1000 };
  });
}

/**
 * Store.countJobsByStatus: every job when `pool` is undefined, else one pool's.
 * Only active jobs (queued, running) are counted — terminal ones report 0. Each count names the exact
 * predicate of a partial index (claimable, fetchable, running), so it stays cheap however many jobs have run.
 */
export async function countJobsByStatus(
  ctx: StoreContext,
  pool?: string,
): Promise<Record<JobStatus, number>> {
  const count = async (status: 'queued' | 'running', inputsReady?: 0 | 1): Promise<number> => {
    let q = ctx.db
      .selectFrom('jobs')
      .select(sql<number>`COUNT(*)`.as('n'))
      .where('status', '=', status);
    if (inputsReady !== undefined) q = q.where('inputs_ready', '=', inputsReady);
    if (pool !== undefined) q = q.where('pool', '=', pool);
    return countSchema.parse(await q.executeTakeFirstOrThrow()).n;
  };
  const [claimable, fetching, running] = await Promise.all([
    count('queued', 1),
    count('queued', 0),
    count('running'),
  ]);
  return { queued: claimable + fetching, running, completed: 0, failed: 0, cancelled: 0 };
}
