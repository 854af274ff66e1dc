/**
 * Strict admission: the idempotency lookup, the insert, then the user and account counters (each
 * incremented only below its limit), in one transaction. A rejection rolls back, so it changes nothing.
 * Lock order on Postgres is user_counters → accounts, the same as every terminal transition.
 * On Postgres the same steps run server-side in arrakis_admit (migration 004) as one autocommit statement.
 */
import { z } from 'zod';
import type { Job } from '../../jobs/types.js';
import { newId } from '../../util/ids.js';
import type { AdmitResult, NewJob } from '../contract.js';
import {
  inTx,
  isForeignKeyViolation,
  isUniqueViolation,
  run,
  type Conn,
  type StoreContext,
} from '../context.js';
import { toJob } from '../rows.js';

const hashSchema = z.object({ request_hash: z.string().nullable() });
const limitsSchema = z.object({ max_active_jobs: z.number(), max_active_jobs_per_user: z.number() });

/** Thrown when admitting into an account that does not exist (a caller bug, not a quota decision). */
export class UnknownAccountError extends Error {
  constructor(accountId: string) {
    super(`account ${accountId} does not exist`);
    this.name = 'UnknownAccountError';
  }
}

class Rejection extends Error {
  constructor(readonly result: AdmitResult) {
    super(result.kind);
  }
}

async function lookupIdempotent(ctx: StoreContext, conn: Conn, input: NewJob): Promise<AdmitResult | null> {
  if (input.idempotencyKey === null) return null;
  const rows = await run(conn, ctx.sql.findByIdempotencyKey, [
    input.accountId,
    input.userId,
    input.idempotencyKey,
  ]);
  const row = rows[0];
  return row === undefined ? null : replayOrConflict(row, input);
}

/** The earlier job of an idempotency key: replayed when the request body matches, else a conflict. */
function replayOrConflict(row: unknown, input: NewJob): AdmitResult {
  const { request_hash } = hashSchema.parse(row);
  if (request_hash !== input.requestHash) return { kind: 'idempotency_conflict' };
  return { kind: 'replayed', job: toJob(row) };
}

async function rejection(
  ctx: StoreContext,
  tx: Conn,
  accountId: string,
  scope: 'user' | 'account',
): Promise<Rejection> {
  const row = (await run(tx, ctx.sql.accountLimits, [accountId]))[0];
  if (row === undefined) throw new UnknownAccountError(accountId);
  const limits = limitsSchema.parse(row);
  const limit = scope === 'user' ? limits.max_active_jobs_per_user : limits.max_active_jobs;
  return new Rejection({ kind: 'quota_exceeded', scope, limit });
}

function newJobRecord(id: string, input: NewJob, now: number): Job {
  return {
    id,
    accountId: input.accountId,
    userId: input.userId,
    status: 'queued',
    priority: input.priority,
    pool: input.pool,
    cancelRequested: false,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    workflow: input.workflow,
    templateName: input.templateName,
    inputs: input.inputs,
    inputsReady: input.inputsReady,
    webhookUrl: input.webhookUrl,
    metadata: input.metadata,
    progress: null,
    outputs: [],
    error: null,
    attempts: 0,
    workerId: null,
    leaseExpiresAt: null,
    idempotencyKey: input.idempotencyKey,
    models: input.models ?? [],
  };
}

/** The insertJob parameters (also the admitFunction parameters, in the same order). */
function insertParams(job: Job, input: NewJob, now: number): unknown[] {
  return [
    job.id,
    job.accountId,
    job.userId,
    job.priority,
    job.pool,
    now,
    JSON.stringify(job.workflow),
    job.templateName,
    JSON.stringify(job.inputs),
    job.inputsReady ? 1 : 0,
    job.webhookUrl,
    JSON.stringify(job.metadata),
    job.idempotencyKey,
    input.requestHash,
    JSON.stringify(job.models),
  ];
}

async function admitInTx(ctx: StoreContext, tx: Conn, input: NewJob, now: number): Promise<AdmitResult> {
  const earlier = await lookupIdempotent(ctx, tx, input);
  if (earlier !== null) return earlier;
  const { sql } = ctx;
  const job = newJobRecord(input.id ?? newId('job', now), input, now);
  // Insert first and take the account row lock last: a same-account admission waits only for our commit.
  await run(tx, sql.insertJob, insertParams(job, input, now));
  const userRows = await run(tx, sql.userAdmit, [input.userId, input.accountId, input.accountId]);
  if (userRows.length === 0) throw await rejection(ctx, tx, input.accountId, 'user');
  const accountRows = await run(tx, sql.accountAdmit, [input.accountId]);
  if (accountRows.length === 0) throw await rejection(ctx, tx, input.accountId, 'account');
  return { kind: 'admitted', job };
}

/** How arrakis_admit (migrations 002 and 004) reports a limit refusal; its statement rolled back. */
const functionRejectionSchema = z.object({
  code: z.literal('AR001'),
  message: z.enum(['user', 'account']),
  detail: z.coerce.number(),
});

/**
 * The same admission as one autocommit statement (Postgres): the account row stays locked only while the
 * server function runs and commits, not across round trips.
 */
async function admitByFunction(ctx: StoreContext, input: NewJob, now: number): Promise<AdmitResult> {
  const job = newJobRecord(input.id ?? newId('job', now), input, now);
  let rows: unknown[];
  try {
    rows = await run(ctx.db, ctx.sql.admitFunction, insertParams(job, input, now));
  } catch (err) {
    const refused = functionRejectionSchema.safeParse(err);
    if (!refused.success) throw err;
    throw new Rejection({ kind: 'quota_exceeded', scope: refused.data.message, limit: refused.data.detail });
  }
  const row = rows[0];
  if (row === undefined) return { kind: 'admitted', job };
  return replayOrConflict(row, input);
}

/** Store.admitJob: see the contract. */
export async function admitJob(ctx: StoreContext, input: NewJob, now: number): Promise<AdmitResult> {
  try {
    if (ctx.caps.serverFunctions) return await admitByFunction(ctx, input, now);
    return await inTx(ctx, (tx) => admitInTx(ctx, tx, input, now));
  } catch (err) {
    if (err instanceof Rejection) return err.result;
    if (isForeignKeyViolation(err)) throw new UnknownAccountError(input.accountId);
    // A concurrent request with the same idempotency key committed first: answer as its replay.
    if (isUniqueViolation(err)) {
      const earlier = await lookupIdempotent(ctx, ctx.db, input);
      if (earlier !== null) return earlier;
    }
    throw err;
  }
}
