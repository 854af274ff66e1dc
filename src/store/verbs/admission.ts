/**
 * Strict admission: the submit-rate tokens, the idempotency lookup, the insert, then the user and account
 * counters (each incremented only below its limit), in one transaction: one commit per submission. A rejection
 * rolls back, so it changes nothing (no token is spent on a refused admission).
 * Lock order on Postgres is user_counters → accounts, the same as every terminal transition.
 * On Postgres the same steps run server-side in arrakis_admit (migration 004), behind arrakis_admit_rated
 * (migration 007) when there are tokens to take, as one autocommit statement.
 */
import { z } from 'zod';
import type { Job } from '../../jobs/types.js';
import { newId } from '../../util/ids.js';
import type { AdmitResult, Claim, ClaimRequest, NewJob } from '../contract.js';
import {
  isForeignKeyViolation,
  isUniqueViolation,
  run,
  runSteps,
  writeSteps,
  type StoreContext,
} from '../context.js';
import { step, type Steps } from '../direct.js';
import { toJob } from '../rows.js';
import { claimSteps } from './claims.js';
import { takeTokenSteps } from './rate-buckets.js';

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

function* lookupIdempotent(ctx: StoreContext, input: NewJob): Steps<AdmitResult | null> {
  if (input.idempotencyKey === null) return null;
  const rows = yield step(ctx.sql.findByIdempotencyKey, [
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

function* rejection(ctx: StoreContext, accountId: string, scope: 'user' | 'account'): Steps<Rejection> {
  const row = (yield step(ctx.sql.accountLimits, [accountId]))[0];
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

/** The admission's statements, for one transaction; a Rejection thrown rolls it back. */
function* admitSteps(ctx: StoreContext, input: NewJob, now: number): Steps<AdmitResult> {
  if (input.rate !== undefined && input.rate.length > 0) {
    const decision = yield* takeTokenSteps(ctx, input.rate, now);
    if (!decision.allowed) throw new Rejection({ kind: 'rate_limited', retryAfterMs: decision.retryAfterMs });
  }
  const earlier = yield* lookupIdempotent(ctx, input);
  if (earlier !== null) return earlier;
  const { sql } = ctx;
  const job = newJobRecord(input.id ?? newId('job', now), input, now);
  // Insert first and take the account row lock last: a same-account admission waits only for our commit.
  yield step(sql.insertJob, insertParams(job, input, now));
  const userRows = yield step(sql.userAdmit, [input.userId, input.accountId, input.accountId]);
  if (userRows.length === 0) throw yield* rejection(ctx, input.accountId, 'user');
  const accountRows = yield step(sql.accountAdmit, [input.accountId]);
  if (accountRows.length === 0) throw yield* rejection(ctx, input.accountId, 'account');
  return { kind: 'admitted', job };
}

/** How arrakis_admit (migrations 002 and 004) reports a limit refusal; its statement rolled back. */
const functionRejectionSchema = z.object({
  code: z.literal('AR001'),
  message: z.enum(['user', 'account']),
  detail: z.coerce.number(),
});

/** How arrakis_admit_rated (migration 007) reports an empty bucket: detail is the wait in ms. */
const functionRateSchema = z.object({ code: z.literal('AR002'), detail: z.coerce.number() });

/** bucket_levels of admitRatedLevels: each bucket's level after the take, in the keys' order. */
const bucketLevelsSchema = z.object({ bucket_levels: z.array(z.coerce.number()) });
/** The id column of an admission's answer: the earlier job's, null when admitted. */
const earlierIdSchema = z.object({ id: z.string().nullable() });

/** The admission statement and its parameters: with the rate buckets when there are tokens to take. */
function admitStatement(ctx: StoreContext, job: Job, input: NewJob, now: number): [string, unknown[]] {
  const params = insertParams(job, input, now);
  const rate = input.rate ?? [];
  if (rate.length === 0) return [ctx.sql.admitFunction, params];
  const buckets = [rate.map((r) => r.key), rate.map((r) => r.ratePerSecond), rate.map((r) => r.burst)];
  return [ctx.sql.admitRatedLevels, [now, ...buckets, ...params, ...buckets]];
}

/**
 * The same admission as one autocommit statement (Postgres): the account row stays locked only while the
 * server function runs and commits, not across round trips. With rate buckets its one row also says what
 * the take left in each, for the submit gate's mirror (bucket-mirror.ts), and holds the earlier job only on
 * a replay.
 */
async function admitByFunction(ctx: StoreContext, input: NewJob, now: number): Promise<AdmitResult> {
  const job = newJobRecord(input.id ?? newId('job', now), input, now);
  let rows: unknown[];
  try {
    const [text, params] = admitStatement(ctx, job, input, now);
    rows = await run(ctx.db, text, params);
  } catch (err) {
    const limited = functionRateSchema.safeParse(err);
    if (limited.success) {
      // AR002 does not say which bucket was empty: none of them is vouched for until its next take.
      for (const r of input.rate ?? []) ctx.buckets?.forget(r.key, now);
      throw new Rejection({ kind: 'rate_limited', retryAfterMs: limited.data.detail });
    }
    const refused = functionRejectionSchema.safeParse(err);
    if (!refused.success) throw err;
    throw new Rejection({ kind: 'quota_exceeded', scope: refused.data.message, limit: refused.data.detail });
  }
  const row = rows[0];
  const rate = input.rate ?? [];
  if (row !== undefined && rate.length > 0) {
    const levels = bucketLevelsSchema.parse(row).bucket_levels;
    for (const [i, r] of rate.entries()) {
      const level = levels[i];
      if (level !== undefined) ctx.buckets?.record(r.key, level, now);
    }
  }
  // admitFunction answers no row when admitted; admitRatedLevels one row whose job columns are null.
  if (row === undefined || earlierIdSchema.parse(row).id === null) return { kind: 'admitted', job };
  return replayOrConflict(row, input);
}

/** Store.admitJob: see the contract. */
export async function admitJob(
  ctx: StoreContext,
  input: NewJob,
  now: number,
  claimFor?: ClaimRequest,
): Promise<AdmitResult> {
  try {
    if (ctx.caps.serverFunctions) return await admitByFunction(ctx, input, now);
    return await writeSteps(ctx, function* (): Steps<AdmitResult> {
      const admitted = yield* admitSteps(ctx, input, now);
      if (claimFor === undefined || admitted.kind !== 'admitted' || !input.inputsReady) return admitted;
      // The claim the waiting worker would make next, in this commit: its pick may be another job, or none. A
      // claim that fails is undone alone and answered null (its worker claims again on its own): the job stays.
      // Unless SQLite ended the whole transaction (a full disk, an I/O error): then the savepoint is gone too,
      // and the claim's own error is the admission's.
      yield step('SAVEPOINT admission_claim', []);
      let claimed: Claim | null;
      try {
        claimed = yield* claimSteps(ctx, claimFor, now);
      } catch (err) {
        try {
          yield step('ROLLBACK TO admission_claim', []);
        } catch {
          throw err;
        }
        claimed = null;
      }
      yield step('RELEASE admission_claim', []);
      return { ...admitted, claimed };
    });
  } catch (err) {
    if (err instanceof Rejection) return err.result;
    if (isForeignKeyViolation(err)) throw new UnknownAccountError(input.accountId);
    // A concurrent request with the same idempotency key committed first: answer as its replay.
    if (isUniqueViolation(err)) {
      const earlier = await runSteps(ctx.db, lookupIdempotent(ctx, input));
      if (earlier !== null) return earlier;
    }
    throw err;
  }
}
