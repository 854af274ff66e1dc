/**
 * What an autoscaling policy sees and what it answers. Pure data: the controller builds a snapshot from the
 * store and the provider, the simulator builds one from its virtual world, and both apply the same answer.
 * Times are epoch milliseconds.
 */
import type { WorkerStatusSubset } from '../store/contract.js';

/** The states a policy plans with: the worker status words of a live worker (store/contract.ts). */
export type PolicyWorkerState = WorkerStatusSubset<'starting' | 'warming' | 'idle' | 'busy'>;

/** What an attached agent is doing, as the fleet counts it (any other report counts as idle). */
export type AgentActivity = WorkerStatusSubset<'idle' | 'busy'>;

export interface PolicyWorker {
  id: string;
  state: PolicyWorkerState;
  startedAt: number;
  /** When the worker last became idle; null unless `state` is `idle`. */
  idleSince: number | null;
  /** Models resident in its VRAM, least recently used first (only when the snapshot has `models`). */
  vram?: readonly string[];
  /** Model files on its disk, least recently used first. */
  disk?: readonly string[];
  /** A file being fetched onto its disk right now, if any. */
  fetching?: string | null;
  /** Files its agent gave up prefetching (their source failed): the plan asks it for others. */
  prefetchRefused?: readonly string[];
  /** Models its agent gave up preloading (their load kept failing): the plan asks it to preload none of them. */
  preloadRefused?: readonly string[];
}

/** The pool's limits at this moment (the schedule already resolved into `min` and `buffer`). */
export interface PoolLimits {
  min: number;
  buffer: number;
  max: number;
  scaleDownMs: number;
  /** Expected time from start to ready (container up, models loaded). */
  coldStartMs: number;
  pricePerGpuSecond: number;
  /** Spend ceiling for the pool in currency per hour; null means none. */
  maxCostPerHour: number | null;
  /**
   * The operator's trade-off, from the fleet file: how far ahead (seconds) the autoscaler provisions for
   * expected jobs; null = the tuned default (1.17 × cold start). Longer waits less and costs more.
   */
  planningHorizonS?: number | null;
  /** The fleet file's `session_copies`: the model plan copies returning users' models onto idle disks. */
  sessionCopies?: boolean;
  /** The fleet file's `prefetch_cover`: overrides the model plan's tuned prefetch cover. */
  prefetchCover?: number;
  /**
   * Outside the fleet file's `latency_hours` (the hours the operator's wait target applies to): the pool
   * keeps no spare workers, starting one only for a waiting job and stopping a worker once idle.
   */
  offHours?: boolean;
}

export interface RecentFinish {
  userId: string;
  at: number;
  /** The base model of the finished job, when known (a returning user tends to keep it). */
  model?: string | null;
}

/** What a model-aware policy sees about models; absent for a pool whose jobs carry none. */
export interface ModelView {
  /** Models a worker keeps resident (LRU) and model files its disk keeps (0 = none). */
  vramModels: number;
  diskCacheModels: number;
  /** Models of queued jobs, with repeats. */
  queued: readonly string[];
  /** Arrivals per model over the popularity look-back (a day), for the forecast of which models come next. */
  popularity: ReadonlyMap<string, number>;
  /** Models a worker can fetch from the registry; absent = every model (the simulator's world). */
  fetchable?: ReadonlySet<string>;
  /**
   * Models an idle worker can load from its disk into VRAM (the pool's warm-up workflow has a loader of their
   * kind); absent = every model (the simulator's world). A pool without a warm-up gets no preloads.
   */
  preloadable?: ReadonlySet<string>;
  /**
   * The model files on the disks of hosts no worker runs on now, where a worker started now may land (the
   * simulator's freed hosts; a process pool's free GPU slots with a `{gpu}` models folder). A worker
   * started on a host whose disk holds its first model pays a boot and a disk load, not a fetch. Absent =
   * unknown (a new worker's first model is fetched).
   */
  freeHosts?: ReadonlyArray<readonly string[]>;
}

/** Arrivals per UTC hour of day (24 entries), summed over `days` whole previous days; days 0 = no history yet. */
export interface ArrivalProfile {
  days: number;
  byHour: readonly number[];
}

export interface PoolSnapshot {
  pool: string;
  queued: number;
  running: number;
  workers: PolicyWorker[];
  /** Submission times of recent jobs (a few minutes before now; older entries are ignored). */
  recentArrivals: number[];
  /** Recently finished jobs with their user, for session anticipation. */
  recentFinishes: RecentFinish[];
  /** Users that have a queued or running job now (they are not "between jobs"). */
  activeUsers: ReadonlySet<string>;
  /** Which hours of the day were busy on previous days (learned online from this pool's submissions). */
  arrivalProfile: ArrivalProfile;
  limits: PoolLimits;
  /** Present when the pool's jobs name their models: the policy then also plans which worker holds which. */
  models?: ModelView;
}

/** Model actions of a decision (only from a model-aware policy). */
export interface ModelActions {
  /** For each worker started now, in order, the model its warm-up loads first (null: none). */
  startWith: Array<string | null>;
  /** Idle workers to load a model from their own disk into VRAM (a warm-up run). */
  preload: Array<{ worker: string; model: string }>;
  /** Model files to fetch onto idle workers' disks in the background (the GPU stays free for jobs). */
  prefetch: Array<{ worker: string; model: string }>;
}

export interface Decision {
  pool: string;
  at: number;
  /** Live workers (starting, warming, idle, busy) when the decision was taken. */
  current: number;
  target: number;
  /** How many workers to start now. */
  start: number;
  /** Idle workers to stop now (never a busy, starting or warming one). */
  stop: string[];
  reason: string;
  models?: ModelActions;
}

/** A scaling policy: pure, deterministic, no clock of its own. */
export type Policy = (snapshot: PoolSnapshot, now: number) => Decision;
