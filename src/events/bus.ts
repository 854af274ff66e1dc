/**
 * The job event bus: how one replica tells the others (and itself) that something happened to a job.
 * The store provides it with its coordination (`store.coordination()`): in-process on SQLite, Postgres
 * LISTEN/NOTIFY across replicas. Messages are small notifications: subscribers read the durable details
 * (job row, job_events) from the store, so a lost message delays an update and never loses it.
 */
import type { JobEvent } from '../jobs/types.js';

export type BusMessage =
  /**
   * A job event was appended (SSE subscribers read the log after their last seq). `ended`: whether it was the
   * job's end (`done`), so a waiter for the end need not re-read the job for any other; absent in messages from
   * replicas that predate it, which a waiter must treat as a possible end. `events`: the events the commit
   * appended, in seq order, when the publisher knows them; delivered to this process's subscribers only (never
   * sent to other replicas), so an SSE stream that sent up to just before them writes them without a log read.
   * `requeued`: the job went back to the queue (a release, an expired lease), so the worker that held it holds
   * it no more: its cancel wait re-reads the lease (a progress event, which also says `ended: false`, does not
   * wake it). Absent in messages from replicas that predate it: such a wait answers at its timeout instead.
   */
  | {
      kind: 'job_event';
      jobId: string;
      ended?: boolean;
      requeued?: true;
      events?: readonly JobEvent[];
    }
  /** A cancel was accepted for a running job: the agent holding it must stop its prompt now. */
  | { kind: 'cancel'; jobId: string }
  /**
   * A job of `pool` became claimable (admitted, requeued, inputs ready): that pool's idle agents should claim
   * now. Null wakes every pool's agents (the job could not be read); it never means a job without a pool.
   */
  | { kind: 'job_ready'; pool: string | null }
  /**
   * A job ended with a webhook URL, so its delivery row may be due: the deliverers claim now instead of at
   * their next poll. Only these wake them: a job event without a webhook has nothing for them to claim.
   */
  | { kind: 'webhook_due' }
  /**
   * Messages may have been missed (the cross-replica listener reconnected after a database outage):
   * every subscriber re-reads what it watches from the store, as if its own message had arrived.
   */
  | { kind: 'resync' };

export interface EventBus {
  /** Delivers locally at once; reaching other replicas is best effort (see `resync`). */
  publish(message: BusMessage): Promise<void>;
  /** Returns an unsubscribe function. Handlers must not throw. */
  subscribe(handler: (message: BusMessage) => void): () => void;
  close(): Promise<void>;
}
