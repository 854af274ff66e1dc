/**
 * The transitions a worker's reports drive: claim, progress, complete (with its outputs), fail, finish a
 * cancel, release. Each is the store's compare-and-set step, then observers, then the bus messages that follow it.
 */
import type { Claim, ClaimOptions, FinishResult } from '../../store/contract.js';
import type { JobError, JobOutput, JobProgress } from '../types.js';
import { announce, endedMessages, outcomeOf, type LifecycleDeps, type Settlement } from './lifecycle-deps.js';

/**
 * Claims the next job of `pool` for `workerId` (queued → running). Announces it (SSE shows `running`);
 * finding nothing publishes nothing.
 */
export async function claim(
  d: LifecycleDeps<'claimJob'>,
  workerId: string,
  pool: string,
  leaseMs: number,
  options?: ClaimOptions,
): Promise<Claim | null> {
  const claimed = await d.store.claimJob(workerId, pool, leaseMs, d.now(), options);
  if (claimed === null) return null;
  await wasClaimed(d, claimed, workerId);
  return claimed;
}

/** What follows a claim, whoever's commit made it (the claim's own, or an admission's: idle-claimers.ts). */
export async function wasClaimed(d: LifecycleDeps<never>, claimed: Claim, workerId: string): Promise<void> {
  d.observer?.claimed?.(claimed.job, workerId);
  await announce(d.bus, { kind: 'job_event', jobId: claimed.job.id, ended: false });
}

/** Records progress while `workerId` holds the job and appends it to the job's events; false when it does not. */
export async function reportProgress(
  d: LifecycleDeps<'updateProgress'>,
  jobId: string,
  workerId: string,
  progress: JobProgress,
): Promise<boolean> {
  if (!(await d.store.updateProgress(jobId, workerId, progress, d.now()))) return false;
  await announce(d.bus, { kind: 'job_event', jobId, ended: false });
  return true;
}

/**
 * What follows a settling transition: observers, then `job_event` (the store wrote the status or `done`
 * event; it carries the events the store says it appended), then `job_ready` for a requeued job so an idle worker of its pool claims it.
 */
async function settled(d: LifecycleDeps<never>, result: FinishResult): Promise<Settlement> {
  if (result.kind === 'lost') return { kind: 'lost' };
  const { job, events } = result;
  const kind = outcomeOf(job);
  if (kind === 'requeued') d.observer?.requeued?.(job);
  else d.observer?.ended?.(job);
  if (kind === 'requeued') {
    await announce(
      d.bus,
      { kind: 'job_event', jobId: job.id, ended: false, requeued: true, ...(events && { events }) },
      { kind: 'job_ready', pool: job.pool },
    );
  } else {
    await announce(d.bus, ...endedMessages(job.id, job, events));
  }
  return { kind, job };
}

/**
 * running → completed with its outputs' `output` events (→ cancelled when a cancel was accepted first), after
 * the run's last `progress` when given (Store.completeJob).
 */
export async function complete(
  d: LifecycleDeps<'completeJob'>,
  jobId: string,
  workerId: string,
  outputs: JobOutput[],
  progress?: JobProgress,
): Promise<Settlement> {
  return await settled(d, await d.store.completeJob(jobId, workerId, outputs, d.now(), progress));
}

/** running → failed (→ cancelled when a cancel was accepted first). */
export async function fail(
  d: LifecycleDeps<'failJob'>,
  jobId: string,
  workerId: string,
  error: JobError,
): Promise<Settlement> {
  return await settled(d, await d.store.failJob(jobId, workerId, error, d.now()));
}

/** running + cancel requested → cancelled, once the worker stopped the prompt. */
export async function finishCancel(
  d: LifecycleDeps<'finishCancel'>,
  jobId: string,
  workerId: string,
): Promise<Settlement> {
  return await settled(d, await d.store.finishCancel(jobId, workerId, d.now()));
}

/** How a worker releases a job. */
export interface ReleaseOptions {
  maxAttempts: number;
  /** Why (recorded on the job's status event). */
  reason: string;
  /** The worker released it for its own reasons (it is stopping): this attempt is not counted against the limit. */
  voluntary?: boolean;
  /** Only a lease that began before this time (ms); a later one of the same worker stays (`lost`). */
  startedBefore?: number;
  /** Only a lease not renewed since it expired at this time (ms) when read; a renewed one stays (`lost`). */
  leaseExpiresAt?: number;
}

/**
 * The worker releases the job it holds: → requeued while attempts remain, else → failed `worker_lost`;
 * → cancelled when a cancel was requested.
 */
export async function release(
  d: LifecycleDeps<'releaseJob'>,
  jobId: string,
  workerId: string,
  o: ReleaseOptions,
): Promise<Settlement> {
  const result = await d.store.releaseJob(
    jobId,
    workerId,
    o.maxAttempts,
    o.reason,
    d.now(),
    o.voluntary,
    o.startedBefore,
    o.leaseExpiresAt,
  );
  return await settled(d, result);
}
