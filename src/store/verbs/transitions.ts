/**
 * Terminal and give-back transitions of running and queued jobs. Each is one compare-and-set statement
 * (see job-sql.ts) followed, in the same transaction, by settleTransition; a CAS that matches no row
 * changes nothing, so counters are released exactly once whoever races.
 */
import { z } from 'zod';
import type { Job, JobError, JobOutput, JobProgress } from '../../jobs/types.js';
import type { CancelResult, ExpiredLeaseOutcome, FinishResult, JobEvent } from '../contract.js';
import { inTx, run, writeSteps, type Conn, type StoreContext } from '../context.js';
import { step, type Steps } from '../direct.js';
import { writtenEvent } from '../job-event-row.js';
import { toJob } from '../rows.js';
import { publicOutput } from '../../jobs/public-job.js';
import { progressSteps } from './claims.js';
import { doneEventData, settleSteps, settleTransition, transitionRow } from './settle.js';

/** The seq of the `progress` event arrakis_finish_running_progress wrote (migration 013), null when none. */
const progressSeqSchema = z.object({ progress_seq: z.number().nullable() });

const WORKER_LOST: JobError = {
  code: 'worker_lost',
  message: 'The worker running the job stopped answering and the retry budget is spent',
};

async function settleOrLost(
  ctx: StoreContext,
  tx: Conn,
  rows: unknown[],
  now: number,
  reason?: string,
): Promise<FinishResult> {
  const row = rows[0];
  if (row === undefined) return { kind: 'lost' };
  const events: JobEvent[] = [];
  const job = await settleTransition(ctx, tx, row, true, now, reason, events);
  return { kind: 'finished', job, events };
}

/** The `output` events' data of a completion, in output order (each as GET /v1/jobs/{id} lists it). */
function outputEvents(jobId: string, outputs: readonly JobOutput[]): string[] {
  return outputs.map((o) => JSON.stringify(publicOutput(jobId, o)));
}

/**
 * Store.completeJob / failJob: one CAS on (status running, worker) that ends `cancelled` once cancel was
 * accepted. A completion appends its outputs' `output` events (in output order) and then `done`, all in the
 * same commit: a client never sees an output of a job that did not complete, nor `done` before its outputs.
 */
export async function finishRunning(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  end: { status: 'completed'; outputs: JobOutput[] } | { status: 'failed'; error: JobError },
  now: number,
  progress?: JobProgress,
): Promise<FinishResult> {
  const outputs = end.status === 'completed' ? JSON.stringify(end.outputs) : '[]';
  const error = end.status === 'failed' ? JSON.stringify(end.error) : null;
  const events = end.status === 'completed' ? outputEvents(jobId, end.outputs) : [];
  // The run's last progress, recorded first (its event before the outputs'), in the end's own commit. Not again
  // when the job already has it: a completion retried after a first try that recorded it (and then failed) adds
  // no second event. Whether the worker still holds the job is the end's compare-and-set to say.
  const lastProgress = progress === undefined ? null : JSON.stringify(progress);
  if (ctx.caps.serverFunctions) {
    // One autocommit statement (migration 013), progress and all, so the account row is locked only while it
    // runs. It records nothing for jobs with a webhook (whose payload is built here) and lost jobs: both take
    // the transaction path below.
    const done = JSON.stringify(
      doneEventData({
        id: jobId,
        status: end.status,
        error: end.status === 'failed' ? end.error : null,
        outputs: end.status === 'completed' ? end.outputs : [],
      }),
    );
    const params = [end.status, outputs, error, now, jobId, workerId, done, events, lastProgress];
    const row = (await run(ctx.db, ctx.sql.finishRunningFunction, params))[0];
    if (row !== undefined) {
      const { job, seq } = transitionRow(row);
      // What it appended, for the caller's bus message (FinishResult.events): first the last progress, when it
      // recorded one (only when new: it says which seq, or null).
      const appended: JobEvent[] = [];
      const progressSeq = progressSeqSchema.parse(row).progress_seq;
      if (progressSeq !== null && lastProgress !== null) {
        appended.push(writtenEvent(jobId, progressSeq, 'progress', lastProgress, now));
      }
      if (job.status === 'completed') {
        for (const [i, data] of events.entries()) {
          appended.push(writtenEvent(jobId, seq - events.length + i, 'output', data, now));
        }
      }
      // The function wrote `done` with our data, or, for a job that ended cancelled, its own text (the same
      // as doneEventData gives a cancelled job, as the transaction path writes).
      const doneText = job.status === end.status ? done : JSON.stringify(doneEventData(job));
      appended.push(writtenEvent(jobId, seq, 'done', doneText, now));
      return { kind: 'finished', job, events: appended };
    }
  }
  // Synchronous statements on SQLite (writeSteps): the completion sits on every job's path to `done`.
  return await writeSteps(ctx, function* (): Steps<FinishResult> {
    // Its own list: a retried transaction runs these steps again.
    const written: JobEvent[] = [];
    // Its progress event (when new) comes first, as on the server function's path.
    if (lastProgress !== null) {
      yield* progressSteps(ctx, jobId, workerId, lastProgress, now, true, written);
    }
    const params = [end.status, outputs, error, now, events.length, jobId, workerId];
    const row = (yield step(ctx.sql.finishRunning, params))[0];
    if (row === undefined) return { kind: 'lost' };
    const { job, seq } = transitionRow(row);
    // The CAS took events.length seqs before `done` (seq) unless the job ended cancelled.
    if (job.status === 'completed') {
      for (const [i, data] of events.entries()) {
        const eventSeq = seq - events.length + i;
        yield step(ctx.sql.insertEvent, [jobId, eventSeq, 'output', data, now]);
        written.push(writtenEvent(jobId, eventSeq, 'output', data, now));
      }
    }
    const settled = yield* settleSteps(ctx, row, true, now, undefined, written);
    return { kind: 'finished', job: settled, events: written };
  });
}

/** Store.finishCancel: see the contract. */
export async function finishCancel(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  now: number,
): Promise<FinishResult> {
  return await inTx(ctx, async (tx) => {
    const rows = await run(tx, ctx.sql.finishCancel, [now, jobId, workerId]);
    return await settleOrLost(ctx, tx, rows, now);
  });
}

function giveBackParams(maxAttempts: number, now: number, jobId: string, last: string | number): unknown[] {
  return [maxAttempts, maxAttempts, JSON.stringify(WORKER_LOST), maxAttempts, now, jobId, last];
}

/** Store.releaseJob: see the contract. `reason` is recorded on the job's status event. */
export async function releaseJob(
  ctx: StoreContext,
  jobId: string,
  workerId: string,
  maxAttempts: number,
  reason: string,
  now: number,
  voluntary = false,
  startedBefore?: number,
  leaseExpiresAt?: number,
): Promise<FinishResult> {
  return await inTx(ctx, async (tx) => {
    // Both statements end the same lease: the worker's, begun before startedBefore and not renewed since it
    // read leaseExpiresAt, when given.
    const before = [
      startedBefore ?? null,
      startedBefore ?? null,
      leaseExpiresAt ?? null,
      leaseExpiresAt ?? null,
    ];
    if (voluntary) await run(tx, ctx.sql.refundAttempt, [jobId, workerId, ...before]);
    const rows = await run(tx, ctx.sql.giveBackByWorker, [
      ...giveBackParams(maxAttempts, now, jobId, workerId),
      ...before,
    ]);
    return await settleOrLost(ctx, tx, rows, now, reason);
  });
}

const expiredSchema = z.object({ id: z.string(), lease_expires_at: z.number() });

/** Store.expireLeases: one transaction per job, each a CAS on the expired lease value. */
export async function expireLeases(
  ctx: StoreContext,
  maxAttempts: number,
  now: number,
): Promise<ExpiredLeaseOutcome[]> {
  const candidates = (await run(ctx.db, ctx.sql.expiredLeases, [now])).map((r) => expiredSchema.parse(r));
  const outcomes: ExpiredLeaseOutcome[] = [];
  for (const c of candidates) {
    const job = await inTx(ctx, async (tx) => {
      const params = giveBackParams(maxAttempts, now, c.id, c.lease_expires_at);
      const row = (await run(tx, ctx.sql.giveBackByLease, params))[0];
      return row === undefined ? null : await settleTransition(ctx, tx, row, true, now, 'lease expired');
    });
    if (job === null) continue;
    const outcome =
      job.status === 'queued' ? 'requeued' : job.status === 'cancelled' ? 'cancelled' : 'failed';
    outcomes.push({ jobId: c.id, outcome });
  }
  return outcomes;
}

/** Store.failQueuedJob: see the contract. */
export async function failQueuedJob(
  ctx: StoreContext,
  jobId: string,
  error: JobError,
  now: number,
): Promise<Job | null> {
  return await inTx(ctx, async (tx) => {
    const row = (await run(tx, ctx.sql.failQueued, [JSON.stringify(error), now, jobId]))[0];
    return row === undefined ? null : await settleTransition(ctx, tx, row, false, now);
  });
}

async function cancelOnce(ctx: StoreContext, tx: Conn, job: Job, now: number): Promise<CancelResult | null> {
  const { sql } = ctx;
  if (job.status === 'queued') {
    const row = (await run(tx, sql.cancelQueued, [now, job.id]))[0];
    if (row === undefined) return null;
    return { kind: 'cancelled', job: await settleTransition(ctx, tx, row, false, now) };
  }
  if (job.status === 'running') {
    if (job.cancelRequested) return { kind: 'cancel_requested', job };
    const row = (await run(tx, sql.requestCancelRunning, [job.id]))[0];
    if (row === undefined) return null;
    const marked = transitionRow(row);
    const data = { status: 'running', cancel_requested: true, attempts: marked.job.attempts };
    await run(tx, sql.insertEvent, [job.id, marked.seq, 'status', JSON.stringify(data), now]);
    return { kind: 'cancel_requested', job: marked.job };
  }
  return { kind: 'finished', job };
}

/** Store.requestCancel: re-reads and retries when a concurrent transition won the CAS (bounded). */
export async function requestCancel(
  ctx: StoreContext,
  accountId: string,
  userId: string,
  jobId: string,
  now: number,
): Promise<CancelResult> {
  return await inTx(ctx, async (tx) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = (await run(tx, ctx.sql.jobForOwner, [jobId, accountId, userId]))[0];
      if (row === undefined) return { kind: 'not_found' };
      const result = await cancelOnce(ctx, tx, toJob(row), now);
      if (result !== null) return result;
    }
    throw new Error(`requestCancel: job ${jobId} kept changing state`);
  });
}
