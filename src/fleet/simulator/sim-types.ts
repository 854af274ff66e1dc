/** The simulator's inputs and raw output: a pool, a scenario (policy + pool + claim rule), a workload. */
import type { Policy } from '../policy-types.js';
import type { Schedule } from '../schedule.js';
import type { ModelTiers } from './model-tiers.js';
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
  planningHorizonS?: number | null;
  sessionCopies?: boolean;
  prefetchCover?: number;
  /** The fleet file's `latency_hours`: outside them the autoscaler keeps no spares (null: all hours). */
  latencyHours?: Schedule | null;
}

export interface Scenario {
  name: string;
  description: string;
  policy: Policy;
  pool: SimPool;
  /**
   * Model-aware: the policy sees which worker holds which model (and plans warm-ups, preloads, prefetches)
   * and free workers claim with affinity within this bound (ms). Null: model-blind, fair order.
   */
  affinityMaxDelayMs?: number | null;
  /** Tick through quiet nights too (a policy that starts workers ahead of arrivals it knows of). */
  alwaysTick?: boolean;
}

export interface SimInput {
  jobs: readonly SimJob[];
  startAt: number;
  endAt: number;
  seed: number;
  tickMs?: number;
  /** Model costs by tier; default DEFAULT_TIERS. */
  tiers?: ModelTiers;
}

/** What one run produced, raw; report.ts turns it into statistics. */
export interface SimOutcome {
  /** Wait of each job in seconds from submission to execution start (after any model load), by job index. */
  waitS: Float64Array;
  /** The part of each job's wait spent loading its model on the worker that took it. */
  loadS: Float64Array;
  /** Billed worker-seconds per hour since startAt. */
  workerSecondsByHour: Float64Array;
  coldStartsByHour: Uint32Array;
  coldStarts: number;
  billedSeconds: number;
  decisions: number;
  modelLoads: number;
  modelFetches: number;
  switches: number;
  maxWorkers: number;
}
