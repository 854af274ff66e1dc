/**
 * The fleet controller: every tick, for each pool, it reads what the store knows (through an injected
 * function), asks the policy for a decision, starts and stops workers through the pool's provider, records
 * the decision and bills worker time. It owns the workers it started; agents are attached by the caller in
 * `onWorkerReady` and detached in `drain` before a stop, so an idle worker that just took a job is never killed.
 */
import type { WorkerStatusSubset } from '../store/contract.js';
import { Backoff } from '../util/backoff.js';
import { decide } from './autoscaler.js';
import { CostLedger } from './cost.js';
import type { PoolConfig } from './fleet-file.js';
import { describeModelActions, hasModelActions, liveModelView, withModels } from './live-models.js';
import type { ObservedModels } from './model-observer.js';
import type {
  AgentActivity,
  ArrivalProfile,
  Decision,
  ModelActions,
  Policy,
  PolicyWorker,
  RecentFinish,
} from './policy-types.js';
import type { FleetProvider } from './providers/contract.js';
import { effectiveFloor, poolLimitsAt } from './schedule.js';

/**
 * A worker the fleet started, as the fleet tracks it: the status words it shares with the worker's own report
 * (store/contract.ts), plus `ready` — its machine is up; its agent's own status (idle, busy, …) says the rest.
 */
export type FleetWorkerState = WorkerStatusSubset<'starting' | 'warming' | 'stopping'> | 'ready';

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
  workerStates: ReadonlyMap<string, AgentActivity>;
  /** Per-model demand and the workers' models; present when the fleet plans models. */
  models?: ObservedModels;
}

export interface FleetWorker {
  id: string;
  pool: string;
  ref: string;
  comfyUrl: string | null;
  state: FleetWorkerState;
  startedAt: number;
  readyAt: number | null;
  /** When the agent last reported the worker idle (tracked across ticks). */
  idleSince: number | null;
  /** The model the plan chose for its warm-up to load first (null: none). */
  firstModel: string | null;
  /** Its ComfyUI's `models/` folder on this host, where the pool keeps a model cache. */
  modelsDir: string | null;
}

/** The model actions the controller last took for a pool (the admin fleet status shows them). */
export interface AppliedModelPlan {
  at: number;
  actions: ModelActions;
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
  /**
   * The model plan's warm-up: puts `model` on the new worker's disk and loads it (through the pool's warm-up
   * workflow when it has a loader for it), before the worker takes jobs. A failure leaves the worker usable.
   */
  warmModel?(worker: FleetWorker, model: string, pool: PoolConfig): Promise<void>;
  /** The model plan's prefetch: asks an idle worker to fetch `model` onto its disk in the background. */
  prefetchModel?(worker: FleetWorker, model: string): Promise<void>;
  /**
   * The model plan's preload: asks an idle worker's agent to load `model` from its disk into VRAM while it is
   * free; resolves false when the agent did not take the ask (it is loading it already, say).
   */
  preloadModel?(worker: FleetWorker, model: string): Promise<boolean>;
  /** Detaches the worker's agent; resolves false if the worker just took a job (then it is not stopped). */
  drain?(worker: FleetWorker): Promise<boolean>;
  policy?: Policy;
  ledger?: CostLedger;
  clock?: () => number;
  newWorkerId: () => string;
  tickMs?: number;
  /** Called with `true` after a tick failed and `false` once ticks succeed again (log once per outage). */
  onTickFailed?(failed: boolean, error?: unknown): Promise<void> | void;
  /**
   * False while this replica does not hold the fleet duty's lock (its lock connection dropped and is being
   * re-taken): ticks then start and stop nothing, since another replica may have taken the duty meanwhile.
   */
  leading?(): boolean;
}

/** How the controller's ticks are going (the admin fleet status shows it). */
export interface TickHealth {
  /** When ticks started failing; null while they succeed. */
  failingSince: number | null;
  lastError: string | null;
}

/** While ticks fail (store unreachable), they are spaced out up to this. */
const MAX_FAILING_TICK_MS = 15_000;

export class FleetController {
  private readonly workers = new Map<string, FleetWorker>();
  private readonly policy: Policy;
  private readonly clock: () => number;
  readonly ledger: CostLedger;
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  private readonly backoff: Backoff;
  private failingSince: number | null = null;
  private lastError: string | null = null;
  private ticking: Promise<void> | null = null;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly modelPlans = new Map<string, AppliedModelPlan>();

  constructor(private readonly deps: ControllerDeps) {
    this.policy = deps.policy ?? ((s, now) => decide(s, now));
    this.clock = deps.clock ?? Date.now;
    this.tickMs = deps.tickMs ?? 5_000;
    this.backoff = new Backoff({ minMs: this.tickMs, maxMs: Math.max(this.tickMs, MAX_FAILING_TICK_MS) });
    this.ledger =
      deps.ledger ?? new CostLedger(new Map(deps.pools.map((p) => [p.name, p.pricePerGpuSecond])));
  }

  /**
   * Starts the periodic loop. A tick never rejects: a pool whose tick failed (the store unreachable) is
   * recorded as a `failed: …` decision when possible and retried; while ticks fail the next one waits longer
   * (backoff from `tickMs` up to MAX_FAILING_TICK_MS).
   */
  start(): void {
    if (this.timer !== null) return;
    const loop = (): void => {
      void this.tick().then(() => {
        if (this.timer === null) return;
        const delay = this.failingSince === null ? this.tickMs : this.backoff.next();
        this.timer = setTimeout(loop, delay);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** How the last tick went. */
  health(): TickHealth {
    return { failingSince: this.failingSince, lastError: this.lastError };
  }

  /** Stops the loop; with `stopWorkers`, also stops every worker it started (starting ones included). */
  async close(opts: { stopWorkers: boolean }): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    if (opts.stopWorkers) await Promise.all([...this.workers.values()].map((w) => this.stopWorker(w, false)));
    await Promise.allSettled([...this.pending]);
  }

  /** The model actions last taken for the pool, or null (none yet, or a model-blind pool). */
  lastModelPlan(pool: string): AppliedModelPlan | null {
    return this.modelPlans.get(pool) ?? null;
  }

  /** Workers this controller runs (optionally of one pool). */
  list(pool?: string): FleetWorker[] {
    return [...this.workers.values()].filter((w) => pool === undefined || w.pool === pool);
  }

  /** One pass over every pool (never rejects); concurrent calls share the pass in flight. */
  async tick(): Promise<void> {
    if (this.ticking !== null) return this.ticking;
    this.ticking = (async () => {
      let failed = false;
      for (const pool of this.deps.pools) {
        try {
          await this.tickPool(pool);
        } catch (err) {
          failed = true;
          await this.tickFailed(pool, err);
        }
      }
      if (!failed) this.recovered();
    })().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  /** Records `failed: …` for the pool when the store takes it; reports it (the caller logs once per outage). */
  private async tickFailed(pool: PoolConfig, err: unknown): Promise<void> {
    const now = this.clock();
    this.failingSince ??= now;
    this.lastError = describe(err);
    const current = this.list(pool.name).filter((w) => w.state !== 'stopping').length;
    const reason = `failed: ${this.lastError}; retrying`;
    await this.deps
      .record({ pool: pool.name, at: now, current, target: current, start: 0, stop: [], reason })
      .catch(() => {});
    try {
      await this.deps.onTickFailed?.(true, err);
    } catch {
      // A reporting hook must not take the loop down.
    }
  }

  private recovered(): void {
    if (this.failingSince === null) return;
    this.failingSince = null;
    this.lastError = null;
    this.backoff.reset();
    try {
      Promise.resolve(this.deps.onTickFailed?.(false)).catch(() => {});
    } catch {
      // As above.
    }
  }

  private async tickPool(pool: PoolConfig): Promise<void> {
    const now = this.clock();
    const seen = await this.deps.observe(pool.name, now);
    const floor = effectiveFloor(pool, now);
    const workers = this.policyWorkers(pool.name, seen, now);
    const decision = this.policy(
      {
        pool: pool.name,
        queued: seen.queued,
        running: seen.running,
        workers: seen.models === undefined ? workers : withModels(workers, seen.models),
        recentArrivals: seen.recentArrivals,
        recentFinishes: seen.recentFinishes,
        activeUsers: seen.activeUsers,
        arrivalProfile: seen.arrivalProfile,
        limits: poolLimitsAt(pool, floor),
        ...(seen.models === undefined ? {} : { models: liveModelView(pool, seen.models) }),
      },
      now,
    );
    const reason =
      floor.schedule === null ? decision.reason : `${decision.reason}; schedule "${floor.schedule}"`;
    // Checked after the observation's awaits, right before acting: the lock may have gone meanwhile.
    if (this.deps.leading?.() === false) return;
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
    const applied: ModelActions = { startWith: [], prefetch: [], preload: [] };
    if (provider !== undefined) {
      for (const id of d.stop) {
        const w = this.workers.get(id);
        if (w !== undefined)
          await this.stopWorker(w, true).catch((err: unknown) => problems.push(describe(err)));
      }
      for (let i = 0; i < d.start; i++) {
        const first = this.deps.warmModel === undefined ? null : (d.models?.startWith[i] ?? null);
        await this.startWorker(pool, provider, first).then(
          () => applied.startWith.push(first),
          (err: unknown) => problems.push(describe(err)),
        );
      }
      await this.prefetch(d.models?.prefetch ?? [], applied, problems);
      await this.preload(d.models?.preload ?? [], applied, problems);
    } else {
      problems.push('no provider for this pool');
    }
    const models = hasModelActions(applied) ? applied : undefined;
    if (models !== undefined) this.modelPlans.set(pool.name, { at: d.at, actions: models });
    const withModels =
      models === undefined ? d.reason : `${d.reason}; models: ${describeModelActions(models)}`;
    const reason = problems.length === 0 ? withModels : `${withModels}; failed: ${problems.join('; ')}`;
    // Recorded: the model actions taken (an ask an agent did not take, say, is left out).
    const recorded: Decision = { ...d, reason };
    if (models === undefined) delete recorded.models;
    else recorded.models = models;
    await this.deps.record(recorded);
  }

  /** Asks idle workers to fetch the plan's files onto their disks. */
  private async prefetch(
    asks: ModelActions['prefetch'],
    applied: ModelActions,
    problems: string[],
  ): Promise<void> {
    const hook = this.deps.prefetchModel;
    if (hook === undefined) return;
    for (const p of asks) {
      const w = this.workers.get(p.worker);
      if (w?.state !== 'ready') continue;
      await hook(w, p.model).then(
        () => applied.prefetch.push(p),
        (err: unknown) => problems.push(`prefetch ${p.model}: ${describe(err)}`),
      );
    }
  }

  /** Asks idle workers' agents to load the plan's models from their disks into VRAM. */
  private async preload(
    asks: ModelActions['preload'],
    applied: ModelActions,
    problems: string[],
  ): Promise<void> {
    const hook = this.deps.preloadModel;
    if (hook === undefined) return;
    for (const p of asks) {
      const w = this.workers.get(p.worker);
      if (w?.state !== 'ready') continue;
      await hook(w, p.model).then(
        (taken) => {
          if (taken) applied.preload.push(p);
        },
        (err: unknown) => problems.push(`preload ${p.model}: ${describe(err)}`),
      );
    }
  }

  private async startWorker(pool: PoolConfig, provider: FleetProvider, firstModel: string | null = null) {
    const id = this.deps.newWorkerId();
    const startedAt = this.clock();
    const started = await provider.start(pool, { workerId: id, firstModel });
    const w: FleetWorker = {
      id,
      pool: pool.name,
      ref: started.ref,
      comfyUrl: null,
      state: 'starting',
      startedAt,
      readyAt: null,
      idleSince: null,
      firstModel,
      modelsDir: started.modelsDir ?? null,
    };
    this.workers.set(id, w);
    this.ledger.workerStarted(pool.name, id, startedAt);
    // Attaching the worker (registering its agent in the store) can fail during an outage: the worker is
    // then stopped and counted as failed, and a later tick starts another. Nothing here may reject unseen.
    const settled: Promise<void> = started.ready
      .then(
        (url) => this.becomeReady(pool, w, url),
        (err: unknown) => this.forget(w, err),
      )
      .catch((err: unknown) => this.abandon(w, err))
      .finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  private async becomeReady(pool: PoolConfig, w: FleetWorker, url: string): Promise<void> {
    if (w.state === 'stopping') return;
    w.comfyUrl = url;
    if (w.firstModel !== null && this.deps.warmModel !== undefined) {
      w.state = 'warming';
      // The model's warm-up runs the pool's warm-up workflow too; a failed one costs the job a load, no more.
      await this.deps.warmModel(w, w.firstModel, pool).catch(() => {});
      if (w.state !== 'warming') return;
    } else if (pool.warmup?.kind === 'inline' && this.deps.runWarmup !== undefined) {
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

  /** A ready worker that could not be handed over: stop it (best effort) and report the failure. */
  private async abandon(w: FleetWorker, err: unknown): Promise<void> {
    try {
      if (this.workers.has(w.id) && w.state !== 'stopping') await this.stopWorker(w, false);
      await this.deps.onWorkerFailed?.(w, err);
    } catch {
      // Already failing: the provider or the hook failing too changes nothing we could act on.
    }
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
