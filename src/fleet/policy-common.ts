/** Steps every scaling policy shares: the hard ceilings and the rule for which idle workers may stop. */
import type { Decision, PoolLimits, PoolSnapshot } from './policy-types.js';

/** Most workers the pool may run under its cost cap (Infinity without a cap or a price). */
export function costCapWorkers(limits: PoolLimits): number {
  if (limits.maxCostPerHour === null || limits.pricePerGpuSecond <= 0) return Number.POSITIVE_INFINITY;
  return Math.floor(limits.maxCostPerHour / (limits.pricePerGpuSecond * 3600));
}

/** Clamps a wanted worker count into [min, max] and under the cost cap; the cap wins over min. */
export function clampTarget(wanted: number, limits: PoolLimits): { target: number; capped: string | null } {
  const byCost = costCapWorkers(limits);
  let target = Math.max(wanted, limits.min);
  let capped: string | null = null;
  if (target > limits.max) {
    target = limits.max;
    capped = `max ${limits.max}`;
  }
  if (target > byCost) {
    target = byCost;
    capped = `cost cap ${limits.maxCostPerHour}/h allows ${byCost}`;
  }
  return { target, capped };
}

/**
 * Idle workers that may stop so the pool shrinks towards `target`: only those idle for at least the
 * scale-down window, longest idle first. Busy, starting and warming workers are never chosen.
 */
export function pickIdleToStop(snapshot: PoolSnapshot, target: number, now: number): string[] {
  const excess = snapshot.workers.length - target;
  if (excess <= 0) return [];
  const window = snapshot.limits.scaleDownMs;
  return snapshot.workers
    .filter((w) => w.state === 'idle' && w.idleSince !== null && now - w.idleSince >= window)
    .sort((a, b) => (a.idleSince ?? 0) - (b.idleSince ?? 0))
    .slice(0, excess)
    .map((w) => w.id);
}

/** Builds the decision from a target: start the shortfall, stop eligible idle excess. */
export function decisionFor(snapshot: PoolSnapshot, now: number, target: number, why: string): Decision {
  const current = snapshot.workers.length;
  const start = Math.max(0, target - current);
  const stop = pickIdleToStop(snapshot, target, now);
  const action = start > 0 ? `start ${start}` : stop.length > 0 ? `stop ${stop.length}` : 'hold';
  return {
    pool: snapshot.pool,
    at: now,
    current,
    target,
    start,
    stop,
    reason: `${action}: target ${target} (${why}), ${current} live`,
  };
}
