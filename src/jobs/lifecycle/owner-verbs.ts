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
 * Admits a job (→ queued). An admitted job whose inputs are all stored wakes its pool's idle workers; one
 * with URL inputs waits for the input fetcher (the `admitted` observer wakes it). A replay or a refusal
 * publishes nothing. Where the store can, a worker of the pool waiting idle in this process is claimed for
 * in the admission's own commit (`handoff`, workers/idle-claimers.ts): its claim call announces that claim, and
 * the pool is woken only when the admitted job is still queued (the fair pick was another job, or none).
 */
export async function admit(
  d: LifecycleDeps<'admitJob' | 'claimsAtAdmission'>,
  input: NewJob,
  origin?: AdmissionOrigin,
): Promise<AdmitResult> {
  const held =
    input.inputsReady && d.store.claimsAtAdmission ? (d.handoff?.reserve(input.pool) ?? null) : null;
  let result: AdmitResult;
  try {
    result = await d.store.admitJob(input, d.now(), held?.claimFor);
  } catch (err) {
    held?.settle(null);
    throw err;
  }
  if (result.kind !== 'admitted') {
    held?.settle(null);
    return result;
  }
  const { job } = result;
  const claim = result.claim ?? null;
  d.observer?.admitted?.(job, origin);
  // Not awaited: the submission's answer does not wait for the cross-replica notify (workers also poll).
  if (job.inputsReady && claim?.job.id !== job.id) {
    void announce(d.bus, { kind: 'job_ready', pool: job.pool }).catch(() => {});
  }
  held?.settle(claim);
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
