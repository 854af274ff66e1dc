/**
 * Background duties of every serve replica: expired leases are requeued or failed (nothing stays running
 * forever), active-job counters are recounted after crashes, and stored files past retention are deleted.
 * Every replica runs them; the store's compare-and-set steps make concurrent sweeps safe.
 */
import type { EventBus } from '../events/bus.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import type { Store } from '../store/contract.js';
import type { Job } from './types.js';
import { JobLifecycle } from './lifecycle/job-lifecycle.js';
import { Retry, SILENT_OUTAGE_LOG, type OutageLog } from '../util/backoff.js';
import { outputPrefix } from '../workers/output-key.js';
import { deleteStaleAttempts } from '../workers/stale-outputs.js';

export interface MaintenanceOptions {
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  maxAttempts: number;
  leaseMs: number;
  /** 0 keeps files forever. */
  retentionDays: number;
  reconcileEveryMs?: number;
  sweepEveryMs?: number;
  now?: () => number;
  /** Where a failing duty is reported: once when it starts failing, once when it recovers. */
  log?: OutageLog;
  /** Called with each job whose lease expired once it was requeued or ended, before it is announced. Must not throw. */
  onLeaseExpired?: (job: Job) => void;
}

/** Runs the periodic duties until stopped. */
export class Maintenance {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly now: () => number;
  private readonly lifecycle: JobLifecycle;
  private stopped = false;

  constructor(private readonly o: MaintenanceOptions) {
    this.now = o.now ?? Date.now;
    const expired = o.onLeaseExpired;
    this.lifecycle = new JobLifecycle({
      store: o.store,
      bus: o.bus,
      now: this.now,
      observer: expired === undefined ? {} : { requeued: expired, ended: expired },
    });
  }

  start(): void {
    const leaseSweepMs = Math.max(250, Math.min(5000, Math.floor(this.o.leaseMs / 4)));
    this.every(leaseSweepMs, 'expire leases', () => this.expireLeases());
    this.every(this.o.reconcileEveryMs ?? 5 * 60_000, 'reconcile counters', () =>
      this.o.store.reconcileCounters(),
    );
    if (this.o.retentionDays > 0)
      this.every(this.o.sweepEveryMs ?? 10 * 60_000, 'retention', () => this.sweep());
  }

  /**
   * One lease sweep; returns how many jobs changed. A job that ended failed or cancelled exposes no outputs:
   * the files its lost worker stored while it ran are deleted (as the worker service does for a reported end).
   * A requeued job's lost run is over too: its files are deleted (stale-outputs.ts), not left to retention
   * (which never comes with `--retention-days 0`). An upload of that run still in flight when the lease
   * expired deletes its own file (WorkerService.storeOutput checks the lease again after storing).
   */
  async expireLeases(): Promise<number> {
    const outcomes = await this.lifecycle.expireLeases(this.o.maxAttempts);
    const log = this.o.log ?? SILENT_OUTAGE_LOG;
    for (const { jobId, outcome } of outcomes) {
      if (outcome !== 'requeued') {
        await this.o.storage.deletePrefix(outputPrefix(jobId)).catch(() => 0);
        continue;
      }
      // Read after the commit: a claim since then counts a new attempt, whose files this leaves alone.
      const lease = await this.o.store.jobLease(jobId).catch(() => null);
      if (lease !== null) await deleteStaleAttempts(this.o.storage, jobId, lease, log);
    }
    return outcomes.length;
  }

  /** Deletes the stored inputs and outputs of jobs that ended before the retention window. */
  async sweep(): Promise<number> {
    const before = this.now() - this.o.retentionDays * 86_400_000;
    let swept = 0;
    for (;;) {
      const jobs = await this.o.store.listJobsForSweep(before, 100);
      if (jobs.length === 0) return swept;
      for (const job of jobs) {
        await this.o.storage.deletePrefix(`jobs/${job.id}/`);
        await this.o.store.markJobSwept(job.id, this.now());
        swept++;
      }
    }
  }

  /**
   * Runs `task` every `ms`, one run at a time. A failing run (the database unreachable) is logged once per
   * outage and retried with backoff — sooner than `ms` for slow duties, never faster than the backoff.
   */
  private every(ms: number, what: string, task: () => Promise<unknown>): void {
    const retry = new Retry(`maintenance: ${what}`, this.o.log ?? SILENT_OUTAGE_LOG, {
      minMs: Math.min(ms, 1000),
      maxMs: Math.min(ms, 30_000),
    });
    const schedule = (delay: number): void => {
      if (this.stopped) return;
      const timer = setTimeout(runOnce, delay);
      timer.unref();
      this.timers.set(what, timer);
    };
    const runOnce = (): void => {
      const p = task()
        .then(
          () => {
            retry.succeeded();
            return ms;
          },
          (err: unknown) => Math.max(Math.min(ms, 1000), retry.failed(err)),
        )
        .then((delay) => {
          this.running.delete(p);
          schedule(delay);
        });
      this.running.add(p);
    };
    schedule(ms);
  }

  /** Stops the timers and waits for a task in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }
}
