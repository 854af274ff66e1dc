/**
 * The discrete-event simulation: a virtual clock, a binary heap of events, a simulated provider (cold starts
 * drawn from the measured distribution, per-second billing from start to stop), the fair claim rule, and the
 * very policy function the controller runs. The policy is asked on every tick and on every arrival.
 */
import { effectiveFloor, poolLimitsAt, type Schedule } from '../schedule.js';
import type { Policy, PolicyWorker, PoolSnapshot, RecentFinish } from '../policy-types.js';
import { ArrivalHistory } from '../arrival-history.js';
import { EventHeap } from './heap.js';
import { takeFair, type QueuedJob } from './fair-pick.js';
import { coldStartSeconds, seededRandom } from './random.js';
import type { SimJob } from './workload.js';

export interface SimPool {
  name: string;
  min: number;
  max: number;
  buffer: number;
  scaleDownMs: number;
  schedules: readonly Schedule[];
  coldStartMs: number;
  pricePerGpuSecond: number;
  maxCostPerHour: number | null;
}

export interface Scenario {
  name: string;
  description: string;
  policy: Policy;
  pool: SimPool;
}

export interface SimInput {
  jobs: readonly SimJob[];
  startAt: number;
  endAt: number;
  seed: number;
  tickMs?: number;
}

/** What one run produced, raw; report.ts turns it into statistics. */
export interface SimOutcome {
  /** Queue wait of each job in seconds, by job index. */
  waitS: Float64Array;
  /** Billed worker-seconds per hour since startAt. */
  workerSecondsByHour: Float64Array;
  coldStartsByHour: Uint32Array;
  coldStarts: number;
  billedSeconds: number;
  decisions: number;
}

interface SimWorker {
  id: string;
  state: 'starting' | 'idle' | 'busy';
  startedAt: number;
  idleSince: number;
  job: number;
}

type SimEvent =
  | { at: number; seq: number; kind: 'arrival'; job: number }
  | { at: number; seq: number; kind: 'ready' | 'finish'; worker: SimWorker }
  | { at: number; seq: number; kind: 'tick' };

/** Snapshot look-back; policies filter to their own shorter windows. */
const HISTORY_MS = 300_000;

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
  finishHead = 0;
  arrivalHead = 0;
  arrived = 0;
  running = 0;
  seq = 0;
  nextWorker = 0;
  done = 0;
  readonly out: SimOutcome;
  private readonly rand: () => number;

  constructor(
    readonly input: SimInput,
    readonly scenario: Scenario,
  ) {
    this.rand = seededRandom(input.seed ^ 0x5eed);
    const hours = Math.ceil((input.endAt - input.startAt) / 3_600_000) + 48;
    this.out = {
      waitS: new Float64Array(input.jobs.length),
      workerSecondsByHour: new Float64Array(hours),
      coldStartsByHour: new Uint32Array(hours),
      coldStarts: 0,
      billedSeconds: 0,
      decisions: 0,
    };
  }

  nextSeq(): number {
    return this.seq++;
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
    const workers: PolicyWorker[] = [];
    for (const w of this.workers.values()) {
      workers.push({
        id: w.id,
        state: w.state,
        startedAt: w.startedAt,
        idleSince: w.state === 'idle' ? w.idleSince : null,
      });
    }
    const pool = this.scenario.pool;
    const floor = effectiveFloor(pool, now);
    return {
      pool: pool.name,
      queued: this.queue.length,
      running: this.running,
      workers,
      recentArrivals,
      recentFinishes: this.finishes.slice(this.finishHead),
      activeUsers: this.activeUsers,
      arrivalProfile: this.history.profile(now),
      limits: poolLimitsAt(pool, floor),
    };
  }

  /**
   * True when no policy could do anything but hold: no workers, no jobs, nothing recent, and no floor.
   * Skipping these ticks (nights) keeps a three-week run fast without changing any decision.
   */
  quiet(now: number): boolean {
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
    for (let i = 0; i < d.start; i++) this.startWorker(now);
  }

  startWorker(now: number): void {
    const w: SimWorker = {
      id: `w${this.nextWorker++}`,
      state: 'starting',
      startedAt: now,
      idleSince: now,
      job: -1,
    };
    this.workers.set(w.id, w);
    this.out.coldStarts++;
    const hour = this.hourOf(now);
    this.out.coldStartsByHour[hour] = (this.out.coldStartsByHour[hour] ?? 0) + 1;
    this.heap.push({
      at: now + coldStartSeconds(this.rand) * 1000,
      seq: this.nextSeq(),
      kind: 'ready',
      worker: w,
    });
  }

  stopWorker(w: SimWorker, now: number): void {
    this.workers.delete(w.id);
    // Per-second billing: every started second is paid.
    const billed = Math.ceil((now - w.startedAt) / 1000);
    this.out.billedSeconds += billed;
    this.spreadOverHours(w.startedAt, w.startedAt + billed * 1000);
  }

  spreadOverHours(from: number, to: number): void {
    let t = from;
    while (t < to) {
      const hour = this.hourOf(t);
      const hourEnd = this.input.startAt + (hour + 1) * 3_600_000;
      const until = Math.min(to, hourEnd);
      this.out.workerSecondsByHour[hour] = (this.out.workerSecondsByHour[hour] ?? 0) + (until - t) / 1000;
      t = until;
    }
  }

  hourOf(at: number): number {
    const h = Math.floor((at - this.input.startAt) / 3_600_000);
    return Math.min(Math.max(h, 0), this.out.coldStartsByHour.length - 1);
  }

  dispatch(now: number): void {
    while (this.queue.length > 0) {
      const w = this.freshestIdle();
      if (w === undefined) return;
      const q = takeFair(this.queue, this.runningByUser);
      if (q === undefined) return;
      const job = this.input.jobs[q.index]!;
      this.out.waitS[q.index] = (now - job.at) / 1000;
      bump(this.runningByUser, job.user, 1);
      this.running++;
      w.state = 'busy';
      w.job = q.index;
      this.heap.push({ at: now + job.durationS * 1000, seq: this.nextSeq(), kind: 'finish', worker: w });
    }
  }

  /** The most recently idle worker takes the next job, so the others age out and can scale down. */
  freshestIdle(): SimWorker | undefined {
    let best: SimWorker | undefined;
    for (const w of this.workers.values()) {
      if (w.state === 'idle' && (best === undefined || w.idleSince > best.idleSince)) best = w;
    }
    return best;
  }

  finish(w: SimWorker, now: number): void {
    const job = this.input.jobs[w.job]!;
    bump(this.runningByUser, job.user, -1);
    if (bump(this.activeByUser, job.user, -1) === 0) this.activeUsers.delete(job.user);
    this.running--;
    this.done++;
    this.finishes.push({ userId: job.user, at: now });
    w.state = 'idle';
    w.idleSince = now;
    w.job = -1;
    this.dispatch(now);
  }

  arrive(index: number, now: number): void {
    const job = this.input.jobs[index]!;
    this.arrived = index + 1;
    this.history.record(job.at);
    bump(this.activeByUser, job.user, 1);
    this.activeUsers.add(job.user);
    this.queue.push({ index, user: job.user, priority: 0, at: job.at });
    this.dispatch(now);
    this.scale(now);
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
  input.jobs.forEach((job, i) =>
    world.heap.push({ at: job.at, seq: world.nextSeq(), kind: 'arrival', job: i }),
  );
  world.heap.push({ at: input.startAt, seq: world.nextSeq(), kind: 'tick' });
  let now = input.startAt;
  for (let e = world.heap.pop(); e !== undefined; e = world.heap.pop()) {
    now = e.at;
    if (e.kind === 'arrival') world.arrive(e.job, now);
    else if (e.kind === 'finish') world.finish(e.worker, now);
    else if (e.kind === 'ready') {
      if (world.workers.get(e.worker.id) !== e.worker) continue;
      e.worker.state = 'idle';
      e.worker.idleSince = now;
      world.dispatch(now);
    } else {
      if (!world.quiet(now)) world.scale(now);
      const allDone = world.done === input.jobs.length;
      if (!(allDone && now >= input.endAt))
        world.heap.push({ at: now + tickMs, seq: world.nextSeq(), kind: 'tick' });
    }
  }
  for (const w of [...world.workers.values()]) world.stopWorker(w, Math.max(now, input.endAt));
  return world.out;
}
