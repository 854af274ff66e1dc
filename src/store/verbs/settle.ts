/**
 * Lock order on Postgres, shared by every transaction: jobs → user_counters → accounts.
 * What follows a job's compare-and-set in the same transaction: counters, the webhook row and the job
 * event. Called only with the row the CAS UPDATE returned, so each runs exactly once per transition.
 */
import { z } from 'zod';
import { isTerminal } from '../../jobs/state-machine.js';
import { publicJobError, publicOutputs, toPublicJob } from '../../jobs/public-job.js';
import type { Job } from '../../jobs/types.js';
import { newId } from '../../util/ids.js';
import type { JobEvent, WebhookEventType } from '../contract.js';
import { runSteps, type Conn, type StoreContext } from '../context.js';
import { step, type Steps } from '../direct.js';
import { writtenEvent } from '../job-event-row.js';
import { toJob } from '../rows.js';

/** A statement's RETURNING event_seq. */
export const seqSchema = z.object({ event_seq: z.number() });

/** The job and the event seq a transition UPDATE returned. */
export function transitionRow(row: unknown): { job: Job; seq: number } {
  return { job: toJob(row), seq: seqSchema.parse(row).event_seq };
}

const WEBHOOK_EVENT: Record<'completed' | 'failed' | 'cancelled', WebhookEventType> = {
  completed: 'job.completed',
  failed: 'job.failed',
  cancelled: 'job.cancelled',
};

function* webhookSteps(ctx: StoreContext, job: Job, now: number): Steps<void> {
  if (job.webhookUrl === null || job.status === 'queued' || job.status === 'running') return;
  const disabled = yield step(ctx.sql.endpointDisabled, [job.accountId, job.webhookUrl]);
  if (disabled.length > 0) return;
  const type = WEBHOOK_EVENT[job.status];
  const payload = { type, timestamp: new Date(now).toISOString(), data: { job: toPublicJob(job) } };
  yield step(ctx.sql.insertDelivery, [
    newId('msg', now),
    job.accountId,
    job.id,
    job.webhookUrl,
    type,
    JSON.stringify(payload),
    now,
    now,
  ]);
}

/**
 * The `done` event's data: the status, the error, and for a completed job its outputs with their URLs (as in
 * GET /v1/jobs/{id}), so a client holding the event stream needs no extra GET to fetch the results.
 */
export function doneEventData(
  job: Pick<Job, 'id' | 'status' | 'error' | 'outputs'>,
): Record<string, unknown> {
  const error = job.error === null ? null : publicJobError(job.error);
  if (job.status !== 'completed') return { status: job.status, error };
  return { status: job.status, error, outputs: publicOutputs(job) };
}

/**
 * Settles a transition: `row` is what the CAS returned, `wasRunning` whether the job was running before,
 * `reason` why a running job was given back (recorded on its status event), `appended` (when given) gets the
 * event it wrote.
 * Terminal: both counters -1 (running too when it was running), webhook, `done` event.
 * Requeued: running -1, `status` event. Claimed: running +1, `status` event.
 */
export async function settleTransition(
  ctx: StoreContext,
  tx: Conn,
  row: unknown,
  wasRunning: boolean,
  now: number,
  reason?: string,
  appended?: JobEvent[],
): Promise<Job> {
  return await runSteps(tx, settleSteps(ctx, row, wasRunning, now, reason, appended));
}

/** settleTransition as steps, for a verb whose statements run synchronously where the dialect allows. */
export function* settleSteps(
  ctx: StoreContext,
  row: unknown,
  wasRunning: boolean,
  now: number,
  reason?: string,
  appended?: JobEvent[],
): Steps<Job> {
  const { job, seq } = transitionRow(row);
  const { sql } = ctx;
  if (isTerminal(job.status)) {
    yield step(sql.userRelease, [wasRunning ? 1 : 0, job.accountId, job.userId]);
    yield* webhookSteps(ctx, job, now);
    const done = JSON.stringify(doneEventData(job));
    yield step(sql.insertEvent, [job.id, seq, 'done', done, now]);
    appended?.push(writtenEvent(job.id, seq, 'done', done, now));
    // Last, so the account row (every admission of the account waits on it) is locked only until commit.
    yield step(sql.accountRelease, [job.accountId]);
    return job;
  }
  if (job.status === 'queued') {
    yield step(sql.userRunningDown, [job.accountId, job.userId]);
  } else {
    yield step(sql.userRunningUp, [job.accountId, job.userId]);
  }
  const data = {
    status: job.status,
    cancel_requested: job.cancelRequested,
    attempts: job.attempts,
    ...(reason === undefined ? {} : { reason }),
  };
  const text = JSON.stringify(data);
  yield step(sql.insertEvent, [job.id, seq, 'status', text, now]);
  appended?.push(writtenEvent(job.id, seq, 'status', text, now));
  return job;
}
