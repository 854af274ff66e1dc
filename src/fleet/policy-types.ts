/**
 * What an autoscaling policy sees and what it answers. Pure data: the controller builds a snapshot from the
 * store and the provider, the simulator builds one from its virtual world, and both apply the same answer.
 * Times are epoch milliseconds.
 */

export type PolicyWorkerState = 'starting' | 'warming' | 'idle' | 'busy';

export interface PolicyWorker {
  id: string;
  state: PolicyWorkerState;
  startedAt: number;
  /** When the worker last became idle; null unless `state` is `idle`. */
  idleSince: number | null;
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
}

export interface RecentFinish {
  userId: string;
  at: number;
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
}

/** A scaling policy: pure, deterministic, no clock of its own. */
export type Policy = (snapshot: PoolSnapshot, now: number) => Decision;
