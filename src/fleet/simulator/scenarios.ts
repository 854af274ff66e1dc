/** The configurations the simulator prices side by side: this project's autoscaler and the baselines. */
import { decide } from '../autoscaler.js';
import type { PoolConfig } from '../fleet-file.js';
import { reactiveDecide } from '../reactive.js';
import type { Schedule } from '../schedule.js';
import type { Scenario, SimPool } from './engine.js';
import { parsePeak } from './peak-window.js';

/** Modal's A10G list price, $1.10 an hour, per second. */
export const DEFAULT_PRICE_PER_GPU_SECOND = 1.1 / 3600;

const BASE: SimPool = {
  name: 'default',
  min: 0,
  max: 20,
  buffer: 0,
  scaleDownMs: 60_000,
  schedules: [],
  coldStartMs: 25_000,
  pricePerGpuSecond: DEFAULT_PRICE_PER_GPU_SECOND,
  maxCostPerHour: null,
};

/**
 * The pool the built-in autoscaler scenario runs when no fleet file is given. No fixed scale-down window:
 * the policy's keep rule decides when an idle worker stops.
 */
export const DEFAULT_AUTOSCALER_POOL: SimPool = { ...BASE, scaleDownMs: 0 };

/** The default `--peak`: weekday afternoons, the hours of the synthetic curve with ≥ 2× the mean hour's jobs. */
export const DEFAULT_PEAK = 'Mon-Fri 12:00-18:00';

/** Affinity bound of the model-aware claim order (as `serve --affinity-max-delay-s`). */
export const DEFAULT_AFFINITY_MAX_DELAY_MS = 10_000;

export interface ScenarioOptions {
  /** The peak window: the peak-profile baseline keeps min 1 + buffer 1 over it. */
  peak?: Schedule;
  /** Whether the workload's jobs carry models (the autoscaler then plans them and claims with affinity). */
  withModels?: boolean;
  affinityMaxDelayMs?: number;
}

/** A simulator pool from a fleet-file pool. */
export function simPoolFrom(p: PoolConfig): SimPool {
  return {
    name: p.name,
    min: p.min,
    max: p.max,
    buffer: p.buffer,
    scaleDownMs: p.scaleDownMs,
    schedules: p.schedules,
    coldStartMs: p.coldStartMs,
    pricePerGpuSecond: p.pricePerGpuSecond,
    maxCostPerHour: p.maxCostPerHour,
    planningHorizonS: p.planningHorizonS ?? null,
    ...(p.sessionCopies === undefined ? {} : { sessionCopies: p.sessionCopies }),
    ...(p.prefetchCover === undefined ? {} : { prefetchCover: p.prefetchCover }),
    latencyHours: p.latencyHours ?? null,
  };
}

/** Every scenario of the report: the autoscaler on `pool` first, then the baselines at the same price. */
export function standardScenarios(
  pool: SimPool = DEFAULT_AUTOSCALER_POOL,
  opts: ScenarioOptions = {},
): Scenario[] {
  const peak = { ...(opts.peak ?? parsePeak(DEFAULT_PEAK)), name: 'peak hours', min: 1, buffer: 1 };
  const affinity =
    opts.withModels === true ? (opts.affinityMaxDelayMs ?? DEFAULT_AFFINITY_MAX_DELAY_MS) : null;
  const price = { pricePerGpuSecond: pool.pricePerGpuSecond, coldStartMs: pool.coldStartMs };
  const base = { ...BASE, ...price, name: pool.name };
  const window = (pool.scaleDownMs / 1000).toFixed(0);
  return [
    {
      name: 'arrakis autoscaler',
      description:
        `anticipating policy, min ${pool.min}, max ${pool.max}, buffer ${pool.buffer}, scale-down ${window} s` +
        (pool.schedules.length > 0 ? `, ${pool.schedules.length} schedule(s)` : '') +
        (affinity === null ? '' : `, model-aware with prefetch, affinity ≤ ${affinity / 1000} s`) +
        (pool.sessionCopies === true ? ', session copies' : '') +
        (pool.prefetchCover === undefined ? '' : `, prefetch cover ${pool.prefetchCover}`) +
        (pool.latencyHours == null
          ? ''
          : `, no spares outside latency hours ${pool.latencyHours.name.replace(/^peak /, '')}`),
      policy: decide,
      pool,
      affinityMaxDelayMs: affinity,
    },
    {
      name: 'seed fixed knobs',
      description: 'reactive, min 0, max 2, buffer 0, scale-down 60 s (the replaced system)',
      policy: reactiveDecide,
      pool: { ...base, max: 2 },
    },
    {
      name: 'modal reactive 60s',
      description:
        'reactive, min 0, max 20, scale-down 60 s, model-blind (oldest job first, loads its model)',
      policy: reactiveDecide,
      pool: base,
    },
    {
      name: 'modal reactive 300s',
      description: 'reactive, min 0, max 20, scale-down 300 s, model-blind',
      policy: reactiveDecide,
      pool: { ...base, scaleDownMs: 300_000 },
    },
    {
      name: 'peak profile',
      description: `reactive max 20, scale-down 60 s, min 1 + buffer 1 over the ${opts.peak?.name ?? `peak ${DEFAULT_PEAK}`} window`,
      policy: reactiveDecide,
      pool: { ...base, schedules: [peak] },
    },
    {
      name: 'always-on 5',
      description: 'five workers running all the time',
      policy: reactiveDecide,
      pool: { ...base, min: 5, max: 5 },
    },
  ];
}
