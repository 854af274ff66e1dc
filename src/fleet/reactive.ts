/**
 * Modal's reactive rule, kept as the baseline the simulator compares against: the target is the jobs that
 * need a worker right now plus a fixed buffer, within [min, max]; idle workers stop after the scale-down window.
 * A job that finds no free worker waits for a whole cold start.
 */
import { clampTarget, decisionFor } from './policy-common.js';
import type { Decision, PoolSnapshot } from './policy-types.js';

/** Reactive decision: target = running + queued + buffer, clamped. */
export function reactiveDecide(snapshot: PoolSnapshot, now: number): Decision {
  const { limits } = snapshot;
  const demand = snapshot.running + snapshot.queued;
  const { target, capped } = clampTarget(demand + limits.buffer, limits);
  const why =
    `reactive: demand ${demand} + buffer ${limits.buffer}; min ${limits.min}, max ${limits.max}` +
    (capped === null ? '' : `; capped by ${capped}`);
  return decisionFor(snapshot, now, target, why);
}
