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
    ...over,
    limits: { ...LIMITS, ...over.limits },
  };
}
