/**
 * Cost accounting: worker-seconds billed per pool from start to stop (per second, as Modal bills), the busy
 * seconds jobs used, and a job's cost as its own run time plus its share of the pool's idle time.
 */

export interface PoolCost {
  pool: string;
  /** Billed worker-seconds: every started second of every worker, running or stopped. */
  workerSeconds: number;
  /** Seconds jobs ran on the pool's workers. */
  busySeconds: number;
  jobs: number;
  cost: number;
  /** Billed but not running a job: cold starts, warm-up and idle time. */
  idleSeconds: number;
}

interface Lifetime {
  pool: string;
  startedAt: number;
  stoppedAt: number | null;
}

export class CostLedger {
  private readonly workers = new Map<string, Lifetime>();
  private readonly busy = new Map<string, { seconds: number; jobs: number }>();

  /** @param prices currency per GPU-second, by pool */
  constructor(private readonly prices: ReadonlyMap<string, number>) {}

  /** Billing starts when the provider is asked to start the worker. */
  workerStarted(pool: string, workerId: string, at: number): void {
    this.workers.set(workerId, { pool, startedAt: at, stoppedAt: null });
  }

  workerStopped(workerId: string, at: number): void {
    const w = this.workers.get(workerId);
    if (w !== undefined && w.stoppedAt === null) w.stoppedAt = at;
  }

  /** Records a finished job's run time on the pool. */
  jobRan(pool: string, runSeconds: number): void {
    const b = this.busy.get(pool) ?? { seconds: 0, jobs: 0 };
    b.seconds += runSeconds;
    b.jobs += 1;
    this.busy.set(pool, b);
  }

  /** The pool's totals up to `now` (running workers are billed up to now). */
  poolCost(pool: string, now: number): PoolCost {
    let workerSeconds = 0;
    for (const w of this.workers.values()) {
      if (w.pool !== pool) continue;
      workerSeconds += Math.ceil(Math.max(0, (w.stoppedAt ?? now) - w.startedAt) / 1000);
    }
    const b = this.busy.get(pool) ?? { seconds: 0, jobs: 0 };
    const price = this.prices.get(pool) ?? 0;
    return {
      pool,
      workerSeconds,
      busySeconds: b.seconds,
      jobs: b.jobs,
      cost: workerSeconds * price,
      idleSeconds: Math.max(0, workerSeconds - b.seconds),
    };
  }

  /** Cost of one job: its run seconds at the pool's price plus an equal share of the pool's idle seconds. */
  jobCost(pool: string, runSeconds: number, now: number): number {
    const c = this.poolCost(pool, now);
    const idleShare = c.jobs === 0 ? 0 : c.idleSeconds / c.jobs;
    return (runSeconds + idleShare) * (this.prices.get(pool) ?? 0);
  }
}
