/**
 * The fleet controller: every tick, for each pool, it reads what the store knows (through an injected
 * function), asks the policy for a decision, starts and stops workers through the pool's provider, records
 * the decision and bills worker time. It owns the workers it started; agents are attached by the caller in
 * `onWorkerReady` and detached in `drain` before a stop, so an idle worker that just took a job is never killed.
 */
import { decide } from './autoscaler.js';
import { CostLedger } from './cost.js';
import type { PoolConfig } from './fleet-file.js';
import type { ArrivalProfile, Decision, Policy, PolicyWorker, RecentFinish } from './policy-types.js';
import type { FleetProvider } from './providers/contract.js';
import { effectiveFloor, poolLimitsAt } from './schedule.js';

/** What the store and the agents know about a pool right now. */
export interface PoolObservation {
  queued: number;
  running: number;
  recentArrivals: number[];
  recentFinishes: RecentFinish[];
  activeUsers: ReadonlySet<string>;
  /** Arrivals per hour of day on previous days (`ActivityTracker.recent` gives it). */
  arrivalProfile: ArrivalProfile;
  /** State agents report for ready workers, by worker id; a ready worker not listed counts as idle. */
  workerStates: ReadonlyMap<string, 'idle' | 'busy'>;
}

export interface FleetWorker {
  id: string;
  pool: string;
  ref: string;
  comfyUrl: string | null;
  state: 'starting' | 'warming' | 'ready' | 'stopping';
  startedAt: number;
  readyAt: number | null;
  /** When the agent last reported the worker idle (tracked across ticks). */
  idleSince: number | null;
}

export interface ControllerDeps {
  pools: readonly PoolConfig[];
  providers: ReadonlyMap<string, FleetProvider>;
  observe(pool: string, now: number): Promise<PoolObservation>;
  /** Persists the decision (admin API, metrics). */
  record(decision: Decision): Promise<void>;
  onWorkerReady(worker: FleetWorker): Promise<void> | void;
  onWorkerStopped(worker: FleetWorker): Promise<void> | void;
  onWorkerFailed?(worker: FleetWorker, error: unknown): Promise<void> | void;
  /** Runs the pool's warm-up workflow on a new worker before it takes jobs. */
  runWarmup?(worker: FleetWorker, workflow: Record<string, unknown>): Promise<void>;
  /** Detaches the worker's agent; resolves false if the worker just took a job (then it is not stopped). */
  drain?(worker: FleetWorker): Promise<boolean>;
  policy?: Policy;
  ledger?: CostLedger;
  clock?: () => number;
  newWorkerId: () => string;
  tickMs?: number;
}

export class FleetController {
  private readonly workers = new Map<string, FleetWorker>();
  private readonly policy: Policy;
  private readonly clock: () => number;
  readonly ledger: CostLedger;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: ControllerDeps) {
    this.policy = deps.policy ?? ((s, now) => decide(s, now));
    this.clock = deps.clock ?? Date.now;
    this.ledger =
      deps.ledger ?? new CostLedger(new Map(deps.pools.map((p) => [p.name, p.pricePerGpuSecond])));
  }

  /** Starts the periodic loop. */
  start(): void {
    if (this.timer !== null) return;
    const loop = () => {
      void this.tick().finally(() => {
        if (this.timer !== null) this.timer = setTimeout(loop, this.deps.tickMs ?? 5_000);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops the loop; with `stopWorkers`, also stops every worker it started (starting ones included). */
  async close(opts: { stopWorkers: boolean }): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    if (opts.stopWorkers) await Promise.all([...this.workers.values()].map((w) => this.stopWorker(w, false)));
    await Promise.allSettled([...this.pending]);
  }

  /** Workers this controller runs (optionally of one pool). */
  list(pool?: string): FleetWorker[] {
    return [...this.workers.values()].filter((w) => pool === undefined || w.pool === pool);
  }

  /** One pass over every pool; concurrent calls share the pass in flight. */
  async tick(): Promise<void> {
    if (this.ticking !== null) return this.ticking;
    this.ticking = (async () => {
      for (const pool of this.deps.pools) await this.tickPool(pool);
    })().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async tickPool(pool: PoolConfig): Promise<void> {
    const now = this.clock();
    const seen = await this.deps.observe(pool.name, now);
    const floor = effectiveFloor(pool, now);
    const decision = this.policy(
      {
        pool: pool.name,
        queued: seen.queued,
        running: seen.running,
        workers: this.policyWorkers(pool.name, seen, now),
        recentArrivals: seen.recentArrivals,
        recentFinishes: seen.recentFinishes,
        activeUsers: seen.activeUsers,
        arrivalProfile: seen.arrivalProfile,
        limits: poolLimitsAt(pool, floor),
      },
      now,
    );
    const reason =
      floor.schedule === null ? decision.reason : `${decision.reason}; schedule "${floor.schedule}"`;
    await this.apply(pool, { ...decision, reason });
  }

  /** The policy's view of this pool's workers, tracking when each became idle. */
  private policyWorkers(pool: string, seen: PoolObservation, now: number): PolicyWorker[] {
    const out: PolicyWorker[] = [];
    for (const w of this.list(pool)) {
      if (w.state === 'stopping') continue;
      if (w.state !== 'ready') {
        out.push({ id: w.id, state: w.state, startedAt: w.startedAt, idleSince: null });
        continue;
      }
      const state = seen.workerStates.get(w.id) ?? 'idle';
      if (state === 'busy') w.idleSince = null;
      else w.idleSince ??= now;
      out.push({ id: w.id, state, startedAt: w.startedAt, idleSince: w.idleSince });
    }
    return out;
  }

  private async apply(pool: PoolConfig, d: Decision): Promise<void> {
    const provider = this.deps.providers.get(pool.name);
    const problems: string[] = [];
    if (provider !== undefined) {
      for (const id of d.stop) {
        const w = this.workers.get(id);
        if (w !== undefined)
          await this.stopWorker(w, true).catch((err: unknown) => problems.push(describe(err)));
      }
      for (let i = 0; i < d.start; i++) {
        await this.startWorker(pool, provider).catch((err: unknown) => problems.push(describe(err)));
      }
    } else {
      problems.push('no provider for this pool');
    }
    const reason = problems.length === 0 ? d.reason : `${d.reason}; failed: ${problems.join('; ')}`;
    await this.deps.record({ ...d, reason });
  }

  private async startWorker(pool: PoolConfig, provider: FleetProvider): Promise<void> {
    const id = this.deps.newWorkerId();
    const startedAt = this.clock();
    const started = await provider.start(pool, { workerId: id });
    const w: FleetWorker = {
      id,
      pool: pool.name,
      ref: started.ref,
      comfyUrl: null,
      state: 'starting',
      startedAt,
      readyAt: null,
      idleSince: null,
    };
    this.workers.set(id, w);
    this.ledger.workerStarted(pool.name, id, startedAt);
    const settled = started.ready.then(
      (url) => this.becomeReady(pool, w, url),
      (err: unknown) => this.forget(w, err),
    );
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
  }

  private async becomeReady(pool: PoolConfig, w: FleetWorker, url: string): Promise<void> {
    if (w.state === 'stopping') return;
    w.comfyUrl = url;
    if (pool.warmup?.kind === 'inline' && this.deps.runWarmup !== undefined) {
      w.state = 'warming';
      try {
        await this.deps.runWarmup(w, pool.warmup.workflow);
      } catch (err) {
        await this.stopWorker(w, false);
        await this.deps.onWorkerFailed?.(w, err);
        return;
      }
    }
    w.state = 'ready';
    w.readyAt = this.clock();
    await this.deps.onWorkerReady(w);
  }

  private async forget(w: FleetWorker, err: unknown): Promise<void> {
    // A worker stopped while starting fails its start; the stop already did the bookkeeping.
    if (w.state === 'stopping') return;
    this.workers.delete(w.id);
    this.ledger.workerStopped(w.id, this.clock());
    await this.deps.onWorkerFailed?.(w, err);
  }

  private async stopWorker(w: FleetWorker, drainFirst: boolean): Promise<void> {
    if (drainFirst && this.deps.drain !== undefined && !(await this.deps.drain(w))) return;
    w.state = 'stopping';
    await this.deps.providers.get(w.pool)?.stop(w.ref);
    this.workers.delete(w.id);
    this.ledger.workerStopped(w.id, this.clock());
    await this.deps.onWorkerStopped(w);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
