/**
 * The transitions background loops drive: lease expiry (maintenance) and the end of input fetching
 * (the input fetcher). Safe on every replica at once: each store step is a compare-and-set.
 */
import type { ExpiredLeaseOutcome } from '../../store/contract.js';
import type { Job, JobError, JobInput } from '../types.js';
import { announce, endedMessages, type LifecycleDeps } from './lifecycle-deps.js';

/**
 * Releases every job whose lease expired: → requeued while attempts remain, else → failed `worker_lost`;
 * → cancelled when a cancel was requested. Each job is announced; a requeued one wakes its pool's workers.
 */
export async function expireLeases(
  d: LifecycleDeps<'expireLeases' | 'getJob'>,
  maxAttempts: number,
): Promise<ExpiredLeaseOutcome[]> {
  const outcomes = await d.store.expireLeases(maxAttempts, d.now());
  const watched = d.observer?.requeued !== undefined || d.observer?.ended !== undefined;
  for (const o of outcomes) {
    // The sweep answers ids only: the job is read when its pool or an observer needs it. The sweep has
    // committed: a failed read (a database blip) must not keep this job's or the next ones' wakes unsent.
    const job = o.outcome === 'requeued' || watched ? await d.store.getJob(o.jobId).catch(() => null) : null;
    if (job !== null) {
      if (o.outcome === 'requeued') d.observer?.requeued?.(job);
      else d.observer?.ended?.(job);
    }
    if (o.outcome === 'requeued') {
      await announce(d.bus, { kind: 'job_event', jobId: o.jobId, ended: false, requeued: true });
    } else await announce(d.bus, ...endedMessages(o.jobId, job));
    // A job that could not be read (gone, or the read failed) wakes every pool's workers (null) rather than none.
    if (o.outcome === 'requeued') await announce(d.bus, { kind: 'job_ready', pool: job?.pool ?? null });
  }
  return outcomes;
}

/** Stores the fetched inputs: the queued job becomes claimable and its pool's workers wake. False: not queued. */
export async function inputsReady(
  d: LifecycleDeps<'markInputsReady'>,
  job: Job,
  inputs: JobInput[],
): Promise<boolean> {
  if (!(await d.store.markInputsReady(job.id, inputs))) return false;
  d.observer?.inputsReady?.({ ...job, inputs, inputsReady: true });
  await announce(d.bus, { kind: 'job_ready', pool: job.pool });
  return true;
}

/** queued → failed: an input could not be fetched. The failed job, or null when it was no longer queued. */
export async function inputsFailed(
  d: LifecycleDeps<'failQueuedJob'>,
  jobId: string,
  error: JobError,
): Promise<Job | null> {
  const job = await d.store.failQueuedJob(jobId, error, d.now());
  if (job === null) return null;
  d.observer?.ended?.(job);
  await announce(d.bus, ...endedMessages(jobId, job));
  return job;
}
