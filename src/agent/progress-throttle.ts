/**
 * Progress relay that sends at most one update per interval, never reorders, and never drops the last one. The
 * first interval starts when the relay is made (a job's run starts): a prompt shorter than that reports only its
 * last update, with its completion (take) or when the run flushes before another end: no commit of its own.
 */
import type { JobProgress } from '../jobs/types.js';

export class ProgressThrottle {
  private lastSentAt = Date.now();
  private pending: JobProgress | null = null;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly send: (p: JobProgress) => Promise<unknown>,
    private readonly intervalMs = 100,
  ) {}

  /** Queues `p`; sent now when the interval has passed, else when it does (replacing anything not yet sent). */
  push(p: JobProgress): void {
    this.pending = p;
    if (this.timer !== null) return;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0) this.sendPending();
    else this.timer = setTimeout(() => this.sendPending(), wait);
  }

  /** Sends what is pending now and waits until every update so far has been delivered. */
  async flush(): Promise<void> {
    this.sendPending();
    await this.chain;
  }

  /**
   * Takes what is pending instead of sending it (a completion records it in its own commit), once every update
   * sent so far has been delivered: null when nothing is pending.
   */
  async take(): Promise<JobProgress | null> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    this.pending = null;
    await this.chain;
    return p;
  }

  /** Drops what is pending (the job is no longer ours to report on). */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }

  private sendPending(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    this.lastSentAt = Date.now();
    // Chained so updates reach the control plane in order; a failed update is not worth failing the job.
    this.chain = this.chain
      .then(() => this.send(p))
      .then(
        () => {},
        () => {},
      );
  }
}
