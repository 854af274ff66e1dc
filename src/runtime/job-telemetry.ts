/**
 * A job's life in the log and the metrics: one `info` line per lifecycle step on the control plane
 * (admitted, claimed, requeued, finished), each carrying the job, account and user ids, and the request and
 * trace ids of the submission, so `grep job_<id>` on serve's log reads the job's life. The agent adds its
 * own lines (prompt sent, outcome) with the job id.
 *
 * The submission's request and trace ids are remembered in memory on the replica that admitted the job (a
 * bounded cache); a job claimed or finished on another replica logs without them, and its admission line
 * (found by the same grep) has them.
 */
import type { Logger } from 'pino';
import { poolLabel, type Metrics } from '../api/metrics.js';
import type { Job } from '../jobs/types.js';
import type { AttemptEvent } from '../webhooks/deliverer.js';
import { RecentOrigins } from './job-origins.js';

export interface JobOrigin {
  requestId: string;
  traceId: string | null;
}

/** Logs and counts each job transition; every method is safe to call from a hot path (never throws). */
export class JobTelemetry {
  private readonly origins = new RecentOrigins<JobOrigin>(50_000, 24 * 3600_000);

  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** A submission was admitted. */
  admitted(job: Job, origin: JobOrigin | undefined): void {
    if (origin !== undefined) this.origins.set(job.id, origin);
    // Once per submission: the line's fields are not even built when info is off.
    if (!this.log.isLevelEnabled('info')) return;
    this.log.info(
      { ...this.ids(job), pool: job.pool, template: job.templateName, inputsReady: job.inputsReady },
      'job admitted',
    );
  }

  /** A worker took the job (`attempts` counts this claim). */
  claimed(job: Job, workerId: string): void {
    const waitMs = Math.max(0, (job.startedAt ?? Date.now()) - job.createdAt);
    if (job.attempts <= 1) this.metrics.queueWait.observe({ pool: poolLabel(job.pool) }, waitMs / 1000);
    if (!this.log.isLevelEnabled('info')) return;
    this.log.info(
      { ...this.ids(job), workerId, attempt: job.attempts, queueWaitMs: waitMs },
      `job claimed by worker ${workerId} after ${waitMs} ms`,
    );
  }

  /** A worker gave the job back and it waits for another claim. */
  requeued(job: Job): void {
    this.log.info({ ...this.ids(job), attempt: job.attempts }, 'job requeued');
  }

  /** The job reached a terminal status. */
  finished(job: Job): void {
    const runMs = job.startedAt === null || job.finishedAt === null ? null : job.finishedAt - job.startedAt;
    const totalMs = job.finishedAt === null ? null : job.finishedAt - job.createdAt;
    const errorCode = job.error?.code ?? null;
    const pool = poolLabel(job.pool);
    this.metrics.jobsFinished.inc({ status: job.status, error_code: errorCode ?? '', pool });
    if (runMs !== null) this.metrics.runTime.observe({ pool }, runMs / 1000);
    // The line keeps the job's request and trace ids, read before they are forgotten.
    const fields = this.log.isLevelEnabled('info')
      ? { ...this.ids(job), status: job.status, errorCode, runMs, totalMs, workerId: job.workerId }
      : null;
    this.origins.delete(job.id);
    if (fields !== null)
      this.log.info(fields, `job ${job.status}${errorCode === null ? '' : ` (${errorCode})`}`);
  }

  /** Every URL input of the job is in storage; it can be claimed. */
  inputsFetched(job: Job): void {
    this.metrics.inputFetches.inc({ outcome: 'ok', error_code: '' });
    this.log.info(this.ids(job), 'job inputs fetched');
  }

  /** A URL input could not be fetched: the job failed before any worker saw it. */
  inputsFailed(job: Job): void {
    this.metrics.inputFetches.inc({ outcome: 'failed', error_code: job.error?.code ?? '' });
    this.finished(job);
  }

  /** One webhook request was made and recorded. */
  webhookAttempt(event: AttemptEvent): void {
    this.metrics.webhookAttempts.inc({ result: event.status });
    if (event.status === 'pending') return;
    this.metrics.webhookDeliveries.inc({ outcome: event.status });
    this.metrics.webhookDeliveryAttempts.observe({ outcome: event.status }, event.attempt.attempt);
    this.log.info(
      {
        jobId: event.delivery.jobId,
        deliveryId: event.delivery.id,
        outcome: event.status,
        attempts: event.attempt.attempt,
        statusCode: event.attempt.statusCode,
      },
      `webhook ${event.status} after ${event.attempt.attempt} attempt(s)`,
    );
  }

  private ids(job: Job): Record<string, string | null> {
    const origin = this.origins.get(job.id);
    return {
      jobId: job.id,
      accountId: job.accountId,
      userId: job.userId,
      requestId: origin?.requestId ?? null,
      traceId: origin?.traceId ?? null,
    };
  }
}
