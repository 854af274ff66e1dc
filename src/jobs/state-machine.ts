/**
 * The legal job transitions. Each one is a single compare-and-set UPDATE in src/store/job-sql.ts
 * (named in the table), so an illegal transition cannot happen: the WHERE clause names the only state
 * it may start from, and a transition that lost a race changes no row. The job lifecycle
 * (src/jobs/lifecycle/) performs them; test/store/transition-oracle.test.ts drives every store verb from
 * every status on SQLite and Postgres and checks each status change against this table, and that every
 * arrow in it is one the store makes.
 *
 *   queued  → running    startJob          (claimNext)
 *   queued  → cancelled  cancelQueued      (requestCancel)
 *   queued  → failed     failQueued        (failQueuedJob: input fetch failed)
 *   running → completed  finishRunning     (completeJob; → cancelled instead once cancel_requested is set)
 *   running → failed     finishRunning     (failJob;     → cancelled instead once cancel_requested is set)
 *   running → cancelled  finishCancel      (finishCancel, only with cancel_requested)
 *   running → queued     giveBackBy*       (releaseJob / expireLeases while attempts < max)
 *   running → failed     giveBackBy*       (attempts spent: error worker_lost)
 *   running → cancelled  giveBackBy*       (cancel_requested)
 *
 * `cancel_requested` only ever goes from false to true, and a job with it set never ends `completed`.
 */
import { TERMINAL_STATUSES, type JobStatus } from './types.js';

/** From each status, the statuses a transition may lead to. */
export const LEGAL_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['completed', 'failed', 'cancelled', 'queued'],
  completed: [],
  failed: [],
  cancelled: [],
};

/** Whether the state machine allows `from → to`. */
export function isLegalTransition(from: JobStatus, to: JobStatus): boolean {
  return LEGAL_TRANSITIONS[from].includes(to);
}

/** Whether `status` is an end state (the job's counters have been released). */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Whether a job in `status` counts against the active-job limits. */
export function isActive(status: JobStatus): boolean {
  return status === 'queued' || status === 'running';
}
