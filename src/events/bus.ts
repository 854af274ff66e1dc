/**
 * The job event bus: how one replica tells the others (and itself) that something happened to a job.
 * In-process on SQLite; Postgres LISTEN/NOTIFY across replicas. Messages are small notifications:
 * subscribers read the durable details (job row, job_events) from the store.
 */
export type BusMessage =
  /** A job event was appended (SSE subscribers fetch events after their last seq). */
  | { kind: 'job_event'; jobId: string; seq: number }
  /** A cancel was accepted for a running job: the agent holding it must stop its prompt now. */
  | { kind: 'cancel'; jobId: string }
  /** A job became claimable (admitted, requeued, inputs ready): idle agents should claim now. */
  | { kind: 'job_ready'; pool: string | null };

export interface EventBus {
  publish(message: BusMessage): Promise<void>;
  /** Returns an unsubscribe function. Handlers must not throw. */
  subscribe(handler: (message: BusMessage) => void): () => void;
  close(): Promise<void>;
}
