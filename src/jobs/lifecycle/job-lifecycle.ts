/**
 * The job lifecycle: the one place that performs each job transition through the store and publishes on the
 * event bus what follows it. API routes, the worker service, maintenance and the input fetcher all go
 * through these verbs; nothing else publishes `job_event`, `job_ready` or `cancel`.
 *
 * Every verb runs in the same order: the store's compare-and-set step commits (with its counters, webhook
 * row and job event, in one transaction), then observers (log lines, metrics), then the bus. A transition
 * that lost a race changed nothing and publishes nothing. The legal status changes are the table in
 * ../state-machine.ts, checked against the SQL by test/store/transition-oracle.test.ts.
 *
 * One word per thing (the store and the worker wire protocol keep their older names):
 * - release: a job leaves the worker that held it — the worker releases it, or its lease expires. It is
 *   the store's `releaseJob` and `expireLeases`, the SQL `giveBackByWorker` / `giveBackByLease`, and
 *   `refundAttempt` (a voluntary release does not count the attempt against the limit: the `refunded_attempts`
 *   column; its number is still never reused). "Give back" and "refund" name it nowhere else.
 * - requeued: the outcome of a release while attempts remain (the job is queued again).
 * - Settlement `completed | failed | cancelled | requeued`: how a report or release left the job. The store's
 *   `FinishResult` says `finished` for all four; the worker protocol's `ReportResult` says `finished` with
 *   the status (kept for agents of older releases).
 * - CancelOutcome `already_ended`: the store's `CancelResult` `finished`.
 */
import type { AdmitResult, Claim, ClaimOptions, ExpiredLeaseOutcome, NewJob } from '../../store/contract.js';
import type { Job, JobError, JobInput, JobOutput, JobProgress } from '../types.js';
import { expireLeases, inputsFailed, inputsReady } from './background-verbs.js';
import type { AdmissionOrigin, CancelOutcome, LifecycleDeps, Settlement } from './lifecycle-deps.js';
import { admit, cancel } from './owner-verbs.js';
import {
  claim,
  complete,
  fail,
  finishCancel,
  release,
  reportProgress,
  wasClaimed,
  type ReleaseOptions,
} from './worker-verbs.js';

export interface JobLifecycleOptions extends Omit<LifecycleDeps, 'now'> {
  /** Defaults to Date.now. */
  now?: () => number;
}

/** Every lifecycle verb bound to one store, bus, clock and observer. */
export class JobLifecycle {
  private readonly d: LifecycleDeps;

  constructor(options: JobLifecycleOptions) {
    this.d = { ...options, now: options.now ?? Date.now };
  }

  admit(input: NewJob, origin?: AdmissionOrigin): Promise<AdmitResult> {
    return admit(this.d, input, origin);
  }

  cancel(accountId: string, userId: string, jobId: string): Promise<CancelOutcome> {
    return cancel(this.d, accountId, userId, jobId);
  }

  claim(workerId: string, pool: string, leaseMs: number, options?: ClaimOptions): Promise<Claim | null> {
    return claim(this.d, workerId, pool, leaseMs, options);
  }

  /** Records and announces a claim an admission made for `workerId` in its own commit (idle-claimers.ts). */
  claimed(claimed: Claim, workerId: string): Promise<void> {
    return wasClaimed(this.d, claimed, workerId);
  }

  reportProgress(jobId: string, workerId: string, progress: JobProgress): Promise<boolean> {
    return reportProgress(this.d, jobId, workerId, progress);
  }

  complete(
    jobId: string,
    workerId: string,
    outputs: JobOutput[],
    progress?: JobProgress,
  ): Promise<Settlement> {
    return complete(this.d, jobId, workerId, outputs, progress);
  }

  fail(jobId: string, workerId: string, error: JobError): Promise<Settlement> {
    return fail(this.d, jobId, workerId, error);
  }

  finishCancel(jobId: string, workerId: string): Promise<Settlement> {
    return finishCancel(this.d, jobId, workerId);
  }

  release(jobId: string, workerId: string, options: ReleaseOptions): Promise<Settlement> {
    return release(this.d, jobId, workerId, options);
  }

  expireLeases(maxAttempts: number): Promise<ExpiredLeaseOutcome[]> {
    return expireLeases(this.d, maxAttempts);
  }

  inputsReady(job: Job, inputs: JobInput[]): Promise<boolean> {
    return inputsReady(this.d, job, inputs);
  }

  inputsFailed(jobId: string, error: JobError): Promise<Job | null> {
    return inputsFailed(this.d, jobId, error);
  }
}
