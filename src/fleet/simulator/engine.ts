/**
 * The discrete-event simulation: a virtual clock, a binary heap of events, a simulated provider (boot from
 * the tiers, per-second billing from start to stop), workers that hold models in VRAM and on disk and pay
 * each load by tier, the claim rules, and the very policy function the controller runs. The policy is asked
 * on every tick and on every arrival. Events at the same instant run finishes before arrivals.
 */
import { ArrivalHistory } from '../arrival-history.js';
import type { ModelActions, PolicyWorker, PoolSnapshot, RecentFinish } from '../policy-types.js';
import type { Scenario, SimInput, SimOutcome } from './sim-types.js';
import { effectiveFloor, poolLimitsAt } from '../schedule.js';
import { takeAffine, takeFair, type AffinityCosts, type QueuedJob } from './claim-order.js';
import { EventHeap } from './heap.js';
import { ModelSet } from './model-set.js';
import { bootSeconds, DEFAULT_TIERS, type ModelTiers } from './model-tiers.js';
import { billWorker, countColdStart, newOutcome } from './outcome.js';
import { seededRandom } from './random.js';
import { expectedLoadS, loadModel, newWorker, type SimWorker } from './sim-worker.js';

export type { Scenario, SimInput, SimOutcome, SimPool } from './sim-types.js';

type SimEvent =
  | { at: number; seq: number; kind: 'arrival'; job: number }
  | { at: number; seq: number; kind: 'ready' | 'warmed' | 'finish'; worker: SimWorker }
  | { at: number; seq: number; kind: 'fetched'; worker: SimWorker; model: string }
  | { at: number; seq: number; kind: 'tick' | 'claim' };

type Unsequenced<E> = E extends unknown ? Omit<E, 'seq'> : never;

/** Same-instant order: finishes free workers before arrivals claim them; ticks decide last. */
const ORDER: Record<SimEvent['kind'], number> = {
  finish: 0,
  fetched: 1,
  ready: 2,
  warmed: 3,
  arrival: 4,
  claim: 5,
  tick: 6,
};
const SEQ_SPAN = 2 ** 40;

/** Snapshot look-back; policies filter to their own shorter windows. */
const HISTORY_MS = 300_000;
/** Look-back of the per-model arrival counts a model-aware policy forecasts from. */
const POPULARITY_MS = 86_400_000;

class World {
  readonly heap = new EventHeap<SimEvent>();
  readonly workers = new Map<string, SimWorker>();
  readonly queue: QueuedJob[] = [];
  readonly runningByUser = new Map<string, number>();
  readonly activeByUser = new Map<string, number>();
  readonly activeUsers = new Set<string>();
  readonly finishes: RecentFinish[] = [];
  /** Learned from arrivals as they happen, like the controller's; never from future ones. */
  readonly history = new ArrivalHistory();
  readonly popularity = new Map<string, number>();
  /** Jobs with a forced claim already scheduled at the end of their affinity bound. */
  readonly claimScheduled = new Set<number>();
  /**
   * Disks of worker hosts no worker runs on now, the most recently freed last: the files a host keeps
   * outlive the worker. A model-blind policy's new worker lands on the most recently freed host; a
   * model-aware one's on the free host holding its first model (`freeHostFor`); else on a fresh one.
   */
  readonly freeDisks: ModelSet[] = [];
  popularityHead = 0;
  finishHead = 0;
  arrivalHead = 0;
  arrived = 0;
  running = 0;
  seq = 0;
  nextWorker = 0;
  done = 0;
  readonly out: SimOutcome;
  readonly tiers: ModelTiers;
  readonly modelAware: boolean;
  private readonly rand: () => number;
  private readonly loadRand: () => number;

  constructor(
    readonly input: SimInput,
    readonly scenario: Scenario,
  ) {
    this.rand = seededRandom(input.seed ^ 0x5eed);
    this.loadRand = seededRandom(input.seed ^ 0x10ad);
    this.tiers = input.tiers ?? DEFAULT_TIERS;
    this.modelAware = (scenario.affinityMaxDelayMs ?? null) !== null;
    this.out = newOutcome(input);
  }

  push(e: Unsequenced<SimEvent>): void {
    this.heap.push({ ...e, seq: ORDER[e.kind] * SEQ_SPAN + this.seq++ });
  }

  policyWorker(w: SimWorker): PolicyWorker {
    const base: PolicyWorker = {
      id: w.id,
      state: w.state,
      startedAt: w.startedAt,
      idleSince: w.state === 'idle' ? w.idleSince : null,
    };
    if (!this.modelAware) return base;
    return { ...base, vram: w.vram.list(), disk: w.disk.list(), fetching: w.fetching?.model ?? null };
  }

  snapshot(now: number): PoolSnapshot {
    const jobs = this.input.jobs;
    while (this.arrivalHead < this.arrived && jobs[this.arrivalHead]!.at < now - HISTORY_MS)
      this.arrivalHead++;
    while (this.finishHead < this.finishes.length && this.finishes[this.finishHead]!.at < now - HISTORY_MS) {
      this.finishHead++;
    }
    const recentArrivals: number[] = [];
    for (let i = this.arrivalHead; i < this.arrived; i++) recentArrivals.push(jobs[i]!.at);
    const workers = [...this.workers.values()].map((w) => this.policyWorker(w));
    const pool = this.scenario.pool;
    const floor = effectiveFloor(pool, now);
    const snapshot: PoolSnapshot = {
      pool: pool.name,
      queued: this.queuedForWorkers(),
      running: this.running,
      workers,
      recentArrivals,
      recentFinishes: this.finishes.slice(this.finishHead),
      activeUsers: this.activeUsers,
      arrivalProfile: this.history.profile(now),
      limits: poolLimitsAt(pool, floor),
    };
    if (!this.modelAware) return snapshot;
    return { ...snapshot, models: this.modelView(now) };
  }

  /**
   * Queued jobs that need a worker: a job waiting, within its affinity bound, for a busy worker that holds
   * its model asks for no new one (a new worker would have to fetch the model too).
   */
  queuedForWorkers(): number {
    if (!this.modelAware) return this.queue.length;
    let n = 0;
    for (const q of this.queue) if (!q.awaitingHolder) n++;
    return n;
  }

  modelView(now: number): NonNullable<PoolSnapshot['models']> {
    const jobs = this.input.jobs;
    while (this.popularityHead < this.arrived && jobs[this.popularityHead]!.at < now - POPULARITY_MS) {
      const m = jobs[this.popularityHead++]!.model;
      if (m !== null) bump(this.popularity, m, -1);
    }
    const queued: string[] = [];
    for (const q of this.queue) if (q.model !== null) queued.push(q.model);
    return {
      vramModels: this.tiers.vramModels,
      diskCacheModels: this.tiers.diskCacheModels,
      queued,
      popularity: this.popularity,
      freeHosts: this.freeDisks.map((d) => d.list()),
    };
  }

  /**
   * True when no policy could do anything but hold: no workers, no jobs, nothing recent, and no floor.
   * Skipping these ticks (nights) keeps a three-week run fast without changing any decision.
   */
  quiet(now: number): boolean {
    if (this.scenario.alwaysTick === true) return false;
    if (this.workers.size > 0 || this.queue.length > 0 || this.running > 0) return false;
    const lastArrival = this.arrived > 0 ? this.input.jobs[this.arrived - 1]!.at : -Infinity;
    const lastFinish = this.finishes.length > 0 ? this.finishes[this.finishes.length - 1]!.at : -Infinity;
    if (now - Math.max(lastArrival, lastFinish) < HISTORY_MS) return false;
    const floor = effectiveFloor(this.scenario.pool, now);
    return floor.min === 0 && floor.buffer === 0;
  }

  scale(now: number): void {
    const d = this.scenario.policy(this.snapshot(now), now);
    this.out.decisions++;
    for (const id of d.stop) {
      const w = this.workers.get(id);
      // The policy may only stop idle workers; the simulator enforces it like the controller does.
      if (w?.state === 'idle') this.stopWorker(w, now);
    }
    for (let i = 0; i < d.start; i++) this.startWorker(now, d.models?.startWith[i] ?? null);
    if (d.models !== undefined) this.applyModelActions(d.models, now);
    this.dispatch(now);
  }

  applyModelActions(actions: ModelActions, now: number): void {
    for (const p of actions.prefetch) {
      const w = this.workers.get(p.worker);
      if (w === undefined || w.state === 'starting' || w.fetching !== null || w.disk.has(p.model)) continue;
      const seconds = this.tiers.fetchS(this.loadRand);
      this.out.modelFetches++;
      w.fetching = { model: p.model, doneAt: now + seconds * 1000 };
      this.push({ at: w.fetching.doneAt, kind: 'fetched', worker: w, model: p.model });
    }
    for (const p of actions.preload) {
      const w = this.workers.get(p.worker);
      // Only from the worker's own disk: a fetch would hold the GPU for tens of seconds.
      if (w?.state !== 'idle' || !w.disk.has(p.model) || w.vram.has(p.model)) continue;
      const seconds = loadModel(w, p.model, this.tiers, now, this.loadRand, this.out);
      w.state = 'warming';
      this.push({ at: now + seconds * 1000, kind: 'warmed', worker: w });
    }
  }

  startWorker(now: number, firstModel: string | null): void {
    const i = this.modelAware ? this.freeHostFor(firstModel) : this.freeDisks.length - 1;
    const disk = i < 0 ? new ModelSet(this.tiers.diskCacheModels) : this.freeDisks.splice(i, 1)[0]!;
    const w = newWorker(`w${this.nextWorker++}`, now, this.tiers, firstModel, disk);
    this.workers.set(w.id, w);
    countColdStart(this.out, this.input.startAt, now);
    this.out.maxWorkers = Math.max(this.out.maxWorkers, this.workers.size);
    this.push({ at: now + bootSeconds(this.tiers, this.rand) * 1000, kind: 'ready', worker: w });
  }

  /**
   * The free host a model-aware policy's new worker starts on (an index into `freeDisks`, -1 = a fresh
   * host): the one whose disk holds its first model, else the one whose files the last day's jobs wanted
   * most, the most recently freed among equals.
   */
  freeHostFor(firstModel: string | null): number {
    let best = -1;
    let bestScore = -1;
    for (let i = this.freeDisks.length - 1; i >= 0; i--) {
      const disk = this.freeDisks[i]!;
      if (firstModel !== null && disk.has(firstModel)) return i;
      let score = 0;
      for (const m of disk.list()) score += this.popularity.get(m) ?? 0;
      if (score > bestScore) [best, bestScore] = [i, score];
    }
    return best;
  }

  /** Boot done: the warm-up loads the first model (from the host's disk if it kept the file), then it is idle. */
  ready(w: SimWorker, now: number): void {
    if (w.firstModel === null) return this.becomeIdle(w, now);
    const seconds = loadModel(w, w.firstModel, this.tiers, now, this.loadRand, this.out);
    w.state = 'warming';
    this.push({ at: now + seconds * 1000, kind: 'warmed', worker: w });
  }

  becomeIdle(w: SimWorker, now: number): void {
    w.state = 'idle';
    w.idleSince = now;
    w.job = -1;
    this.dispatch(now);
  }

  stopWorker(w: SimWorker, now: number): void {
    this.workers.delete(w.id);
    this.freeDisks.push(w.disk);
    billWorker(this.out, this.input.startAt, w.startedAt, now);
  }

  /** Free workers claim queued jobs until one side runs out. */
  dispatch(now: number): void {
    while (this.queue.length > 0) {
      const idle = this.idleFreshestFirst();
      if (idle.length === 0) return;
      // A bound of 0 turns affinity off: plain fair order, as `serve --affinity-max-delay-s 0`.
      const pick =
        this.modelAware && this.maxDelayMs() > 0
          ? takeAffine(this.queue, this.runningByUser, idle, this.affinityCosts(now), now, this.maxDelayMs())
          : { job: takeFair(this.queue, this.runningByUser), worker: idle[0]! };
      if (pick?.job === undefined) break;
      this.claimScheduled.delete(pick.job.index);
      this.run(pick.job.index, pick.worker, now);
    }
    if (this.modelAware) this.scheduleOverdueClaims();
  }

  maxDelayMs(): number {
    return this.scenario.affinityMaxDelayMs ?? 0;
  }

  affinityCosts(now: number): AffinityCosts<SimWorker> {
    const tiers = this.tiers;
    return {
      loadCost: (w, m) => expectedLoadS(w, m, tiers, now),
      waitAbove: tiers.fetchMedianS,
      heldElsewhere: (m) => {
        for (const w of this.workers.values()) {
          if (w.state !== 'idle' && w.state !== 'starting' && (w.vram.has(m) || w.disk.has(m))) return true;
        }
        return false;
      },
    };
  }

  /** A job that started waiting (or was passed over) is claimable by force once the bound has passed. */
  scheduleOverdueClaims(): void {
    for (const q of this.queue) {
      if (q.bypassedSince !== null && !this.claimScheduled.has(q.index)) {
        this.claimScheduled.add(q.index);
        this.push({ at: q.bypassedSince + this.maxDelayMs(), kind: 'claim' });
      }
    }
  }

  run(index: number, w: SimWorker, now: number): void {
    const job = this.input.jobs[index]!;
    const loadS = loadModel(w, job.model, this.tiers, now, this.loadRand, this.out);
    const startAt = now + loadS * 1000;
    this.out.waitS[index] = (startAt - job.at) / 1000;
    this.out.loadS[index] = loadS;
    bump(this.runningByUser, job.user, 1);
    this.running++;
    w.state = 'busy';
    w.job = index;
    this.push({ at: startAt + job.durationS * 1000, kind: 'finish', worker: w });
  }

  /** Idle workers, the most recently idle first: it takes the next job, so the others age out and can stop. */
  idleFreshestFirst(): SimWorker[] {
    const idle: SimWorker[] = [];
    for (const w of this.workers.values()) if (w.state === 'idle') idle.push(w);
    return idle.sort((a, b) => b.idleSince - a.idleSince);
  }

  finish(w: SimWorker, now: number): void {
    const job = this.input.jobs[w.job]!;
    bump(this.runningByUser, job.user, -1);
    if (bump(this.activeByUser, job.user, -1) === 0) this.activeUsers.delete(job.user);
    this.running--;
    this.done++;
    this.finishes.push({ userId: job.user, at: now, model: job.model });
    this.becomeIdle(w, now);
  }

  fetched(w: SimWorker, model: string): void {
    if (w.fetching?.model !== model) return;
    w.fetching = null;
    w.disk.add(model);
  }

  arrive(index: number, now: number): void {
    const job = this.input.jobs[index]!;
    this.arrived = index + 1;
    this.history.record(job.at);
    if (job.model !== null) bump(this.popularity, job.model, 1);
    bump(this.activeByUser, job.user, 1);
    this.activeUsers.add(job.user);
    this.queue.push({
      index,
      user: job.user,
      priority: 0,
      at: job.at,
      model: job.model,
      bypassedSince: null,
      awaitingHolder: false,
    });
    this.dispatch(now);
    this.scale(now);
  }

  handle(e: SimEvent, now: number): void {
    if (e.kind === 'arrival') return this.arrive(e.job, now);
    if (!('worker' in e)) return this.dispatch(now);
    // Events of a worker stopped meanwhile are void.
    if (this.workers.get(e.worker.id) !== e.worker) return;
    if (e.kind === 'finish') this.finish(e.worker, now);
    else if (e.kind === 'ready') this.ready(e.worker, now);
    else if (e.kind === 'warmed') this.becomeIdle(e.worker, now);
    else if (e.kind === 'fetched') this.fetched(e.worker, e.model);
  }
}

function bump(map: Map<string, number>, key: string, by: number): number {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
  return n;
}

/** Runs one scenario over a workload. Deterministic: the same input and scenario give the same outcome. */
export function simulate(input: SimInput, scenario: Scenario): SimOutcome {
  const world = new World(input, scenario);
  const tickMs = input.tickMs ?? 5_000;
  input.jobs.forEach((job, i) => world.push({ at: job.at, kind: 'arrival', job: i }));
  world.push({ at: input.startAt, kind: 'tick' });
  let now = input.startAt;
  for (let e = world.heap.pop(); e !== undefined; e = world.heap.pop()) {
    now = e.at;
    world.handle(e, now);
    if (e.kind !== 'tick') continue;
    if (!world.quiet(now)) world.scale(now);
    const allDone = world.done === input.jobs.length;
    if (!(allDone && now >= input.endAt)) world.push({ at: now + tickMs, kind: 'tick' });
  }
  for (const w of [...world.workers.values()]) world.stopWorker(w, Math.max(now, input.endAt));
  return world.out;
}
