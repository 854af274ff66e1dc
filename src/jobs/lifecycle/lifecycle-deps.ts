/**
 * What every lifecycle verb is given (a store, the bus, a clock, observers) and the results it answers.
 * Each verb names the few store verbs it needs, so a part that performs only some transitions (the input
 * fetcher) is handed only those.
 */
import type { EventBus, BusMessage } from '../../events/bus.js';
import type { Store } from '../../store/contract.js';
import type { Job, JobEvent } from '../types.js';
import type { IdleClaimers } from './idle-claimers.js';

/** The store verbs the lifecycle performs (every job status change in Arrakis is one of these). */
export type LifecycleStoreVerb =
  | 'admitJob'
  | 'claimsInAdmission'
  | 'claimJob'
  | 'updateProgress'
  | 'completeJob'
  | 'failJob'
  | 'finishCancel'
  | 'releaseJob'
  | 'expireLeases'
  | 'getJob'
  | 'requestCancel'
  | 'markInputsReady'
  | 'failQueuedJob';

/** The request that admitted a job, for its log lines (`grep job_<id>` finds its request and trace ids). */
export interface AdmissionOrigin {
  requestId: string;
  traceId: string | null;
}

/**
 * Told of each transition after the store committed it and before the bus hears of it, so a log line or a
 * metric is written before any listener woken by the bus can act on the job. Synchronous; must not throw.
 */
export interface LifecycleObserver {
  /** A submission was admitted (not a replay). */
  admitted?(job: Job, origin?: AdmissionOrigin): void;
  /** A worker claimed the job (queued → running). */
  claimed?(job: Job, workerId: string): void;
  /** Every URL input is stored: the job is claimable. */
  inputsReady?(job: Job): void;
  /** A release put the job back in the queue (running → queued). */
  requeued?(job: Job): void;
  /** The job reached a terminal status (completed, failed or cancelled). */
  ended?(job: Job): void;
}

/** The dependencies of a lifecycle verb that uses the store verbs `K`. */
export interface LifecycleDeps<K extends LifecycleStoreVerb = LifecycleStoreVerb> {
  store: Pick<Store, K>;
  bus: Pick<EventBus, 'publish'>;
  /** The clock passed to the store (epoch ms). */
  now: () => number;
  observer?: LifecycleObserver;
  /** This process's claims waiting for work: an admission makes the longest-waiting one's claim in its commit. */
  idleClaimers?: IdleClaimers;
}

/** Where a job stands after a worker's report, a release or a lease expiry. */
export type Outcome = 'completed' | 'failed' | 'cancelled' | 'requeued';

/** A worker's report or release: how it left the job, or `lost` when the worker no longer held it. */
export type Settlement = { kind: Outcome; job: Job } | { kind: 'lost' };

/** An owner's cancel request. */
export type CancelOutcome =
  /** It was queued: it ended cancelled at once. */
  | { kind: 'cancelled'; job: Job }
  /** It is running: the worker holding it was told to stop, and the job ends cancelled when it has. */
  | { kind: 'cancel_requested'; job: Job }
  /** It had ended before (in `job.status`): nothing changed. */
  | { kind: 'already_ended'; job: Job }
  | { kind: 'not_found' };

/** The outcome a job's status after a settling transition names. */
export function outcomeOf(job: Job): Outcome {
  if (job.status === 'running') throw new Error(`job ${job.id} is still running after a settling transition`);
  return job.status === 'queued' ? 'requeued' : job.status;
}

/**
 * The messages that announce a job's end: its `job_event`, and `webhook_due` when it has a webhook URL (the
 * settling transaction queued its delivery, unless the endpoint is disabled). An ended job that could not be
 * read (null) may have one: the deliverers are woken rather than left to their poll. `events`: what the
 * transition appended, when known (for this replica's event streams).
 */
export function endedMessages(jobId: string, job: Job | null, events?: readonly JobEvent[]): BusMessage[] {
  const event: BusMessage = { kind: 'job_event', jobId, ended: true, ...(events && { events }) };
  return job === null || job.webhookUrl !== null ? [event, { kind: 'webhook_due' }] : [event];
}

/** Publishes `messages` in order; called only after the store committed the transition they announce. */
export async function announce(
  bus: Pick<EventBus, 'publish'>,
  ...messages: readonly BusMessage[]
): Promise<void> {
  for (const m of messages) await bus.publish(m);
}
