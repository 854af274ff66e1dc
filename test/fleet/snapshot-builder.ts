/** Builds policy snapshots for decision-table tests. */
import type { PolicyWorker, PoolLimits, PoolSnapshot } from '../../src/fleet/policy-types.js';

export const NOW = Date.UTC(2026, 0, 7, 15, 0, 0);

export const LIMITS: PoolLimits = {
  min: 0,
  buffer: 0,
  max: 10,
  scaleDownMs: 60_000,
  coldStartMs: 25_000,
  pricePerGpuSecond: 1 / 3600,
  maxCostPerHour: null,
};

/** A pool that has not seen a whole day yet. */
export const NO_HISTORY = { days: 0, byHour: new Array<number>(24).fill(0) };

/** A learned profile: `days` previous days with `perHour[h]` arrivals at hour h on each. */
export function history(days: number, perHour: (hour: number) => number) {
  return { days, byHour: Array.from({ length: 24 }, (_, h) => days * perHour(h)) };
}

export function worker(id: string, state: PolicyWorker['state'], idleForMs = 0): PolicyWorker {
  return { id, state, startedAt: NOW - 600_000, idleSince: state === 'idle' ? NOW - idleForMs : null };
}

export function snapshot(
  over: Partial<Omit<PoolSnapshot, 'limits'>> & { limits?: Partial<PoolLimits> } = {},
): PoolSnapshot {
  return {
    pool: 'gpu',
    queued: 0,
    running: 0,
    workers: [],
    recentArrivals: [],
    recentFinishes: [],
    activeUsers: new Set(),
    arrivalProfile: NO_HISTORY,
    ...over,
    limits: { ...LIMITS, ...over.limits },
  };
}
