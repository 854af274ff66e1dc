/**
 * The safety net of the event streams and `Prefer: wait` holds, one per API context (replica): every few seconds
 * one read of the last event seq of every job with an open stream or hold (`jobEventSeqs`, one statement per
 * slice of ids), then a wake-up for each whose job has events past what it saw, or whose job row is gone. It
 * catches an event whose bus message never came; a bus reconnect already wakes every stream and hold (`resync`).
 * 10,000 idle streams cost one read of 10,000 rows every period, not 10,000 reads.
 */
import type { Store } from '../store/contract.js';
import { Retry, type OutageLog } from '../util/backoff.js';

/** How often the open streams' jobs are checked for events no bus message told of. */
export const EVENT_POLL_MS = 10_000;

/** What the poll needs of an open stream (or of a `Prefer: wait` hold, prefer-wait.ts). */
export interface PolledStream {
  /** The seq of the last event the stream sent (or the one its client resumed after; a hold: the last it saw). */
  readonly sent: number;
  /**
   * The job has events past `sent`, `lastSeq` the last one's, or its row is gone (`lastSeq` undefined): a stream
   * reads the log after `sent` and writes what is new, a hold re-reads the job.
   */
  polled(lastSeq: number | undefined): void;
}

export class JobEventPoll {
  /** Open streams by job id. */
  private readonly watched = new Map<string, Set<PolledStream>>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopped = false;
  private readonly retry: Retry;

  constructor(
    private readonly store: Pick<Store, 'jobEventSeqs'>,
    private readonly everyMs: number,
    log: OutageLog,
  ) {
    this.retry = new Retry('event stream poll', log);
  }

  /** Watches `stream` of job `jobId` until the returned function is called. */
  watch(jobId: string, stream: PolledStream): () => void {
    let set = this.watched.get(jobId);
    if (set === undefined) this.watched.set(jobId, (set = new Set()));
    set.add(stream);
    if (this.timer === undefined && !this.stopped) {
      this.timer = setInterval(() => void this.poll(), this.everyMs);
      this.timer.unref();
    }
    return () => {
      const streams = this.watched.get(jobId);
      if (streams?.delete(stream) !== true) return;
      if (streams.size === 0) this.watched.delete(jobId);
      if (this.watched.size === 0) this.pause();
    };
  }

  /** Stops polling for good (the app drains or closes); later streams are not polled. */
  stop(): void {
    this.stopped = true;
    this.pause();
  }

  private pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * One read for every watched job. A tick that finds the last one still running skips (a slow store gets no
   * pile of reads). A failed read is logged once per outage and tried again at the next tick; the streams
   * stay open (their heartbeats go on, and the bus still wakes them).
   */
  private async poll(): Promise<void> {
    if (this.polling || this.watched.size === 0) return;
    this.polling = true;
    try {
      const ids = [...this.watched.keys()];
      let seqs: Map<string, number>;
      try {
        seqs = await this.store.jobEventSeqs(ids);
      } catch (err) {
        // A read the drain or close cut off (the store closing under it) is no outage.
        if (!this.stopped) this.retry.failed(err, { streams: ids.length });
        return;
      }
      this.retry.succeeded();
      if (this.stopped) return;
      for (const id of ids) {
        const seq = seqs.get(id);
        // A stream opened during the read is absent from `ids`: its open read the log just now.
        for (const stream of this.watched.get(id) ?? []) {
          if (seq === undefined || seq > stream.sent) stream.polled(seq);
        }
      }
    } finally {
      this.polling = false;
    }
  }
}
