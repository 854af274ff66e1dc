/** The transitions a job's owner drives through the API: admission and cancel. */
import type { AdmitResult, NewJob } from '../../store/contract.js';
import {
  announce,
  endedMessages,
  type AdmissionOrigin,
  type CancelOutcome,
  type LifecycleDeps,
} from './lifecycle-deps.js';

/**
 * Admits a job (→ queued). An admitted job whose inputs are all stored goes to a claim of this process that
 * waits for work in its pool, made in the admission's own commit (idle-claimers.ts), else wakes the pool's idle
 * workers; one with URL inputs waits for the input fetcher (the `admitted` observer wakes it). A replay or a
 * refusal publishes nothing (a waiting claim it took is answered with nothing and claims again).
 */
export async function admit(
  d: LifecycleDeps<'admitJob' | 'claimsInAdmission'>,
  input: NewJob,
  origin?: AdmissionOrigin,
): Promise<AdmitResult> {
  // Only where the store claims inside the admission (SQLite): elsewhere the bus wakes the waiting claims.
  const idle = d.idleClaimers;
  const waiting =
    idle !== undefined && input.inputsReady && d.store.claimsInAdmission ? idle.take(input.pool) : null;
  let result: AdmitResult;
  try {
    result = await d.store.admitJob(input, d.now(), waiting?.request);
  } catch (err) {
    waiting?.hand(null);
    throw err;
  }
  if (result.kind !== 'admitted') {
    waiting?.hand(null);
    return result;
  }
  const { job } = result;
  // Answered before anything else can throw: the claim's own side records and announces it (JobLifecycle.claimed),
  // as after a claim of its own, once this turn is over (so the admission's observer still logs first).
  const claimed = result.claimed ?? null;
  waiting?.hand(claimed);
  d.observer?.admitted?.(job, origin);
  // Not awaited: the submission's answer does not wait for the cross-replica notify (workers also poll).
  if (job.inputsReady && claimed?.job.id !== job.id) {
    void announce(d.bus, { kind: 'job_ready', pool: job.pool }).catch(() => {});
  }
  return result;
}

/**
 * The owner cancels: queued → cancelled at once; running → cancel requested, and `cancel` tells the worker
 * holding it to stop now (before `job_event`, so the stop is not delayed by SSE readers).
 */
export async function cancel(
  d: LifecycleDeps<'requestCancel'>,
  accountId: string,
  userId: string,
  jobId: string,
): Promise<CancelOutcome> {
  const result = await d.store.requestCancel(accountId, userId, jobId, d.now());
  switch (result.kind) {
    case 'not_found':
      return result;
    case 'finished':
      return { kind: 'already_ended', job: result.job };
    case 'cancelled':
      d.observer?.ended?.(result.job);
      await announce(d.bus, ...endedMessages(result.job.id, result.job));
      return result;
    case 'cancel_requested':
      await announce(
        d.bus,
        { kind: 'cancel', jobId: result.job.id },
        { kind: 'job_event', jobId: result.job.id, ended: false },
      );
      return result;
  }
}
