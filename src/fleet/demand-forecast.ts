/**
 * How many jobs a pool should expect within the next few seconds, from what a snapshot holds: users between
 * jobs of a session (each returns with a probability read off a return curve) and fresh sessions at the
 * recent arrival rate. The autoscaler sizes its spare workers from this forecast. Pure functions, no clock.
 */
import type { PoolSnapshot } from './policy-types.js';

/**
 * Points (seconds since the user's last job ended, share of users who submitted again by then), ascending.
 * The last share is the chance of ever coming back; after the last point the user counts as gone.
 */
export type ReturnCurve = ReadonlyArray<readonly [number, number]>;

/** The workload facts from the serving trace: 59% return within 60 s, 75% within 120 s, 86% within 300 s. */
export const TRACE_RETURN_CURVE: ReturnCurve = [
  [0, 0],
  [3, 0],
  [60, 0.59],
  [120, 0.75],
  [300, 0.86],
];

/** Share of users who returned within `t` seconds of their last job ending (linear between points). */
export function returnedBy(curve: ReturnCurve, t: number): number {
  const last = curve[curve.length - 1];
  if (last === undefined) return 0;
  if (t >= last[0]) return last[1];
  for (let i = 1; i < curve.length; i++) {
    const [t1, p1] = curve[i]!;
    const [t0, p0] = curve[i - 1]!;
    if (t <= t1) return t1 === t0 ? p1 : p0 + ((t - t0) / (t1 - t0)) * (p1 - p0);
  }
  return last[1];
}

/**
 * Chance that a user whose last job ended `sinceS` seconds ago, and who has not come back yet, submits within
 * the next `horizonS` seconds. Zero once the curve's last point has passed.
 */
export function returnWithin(curve: ReturnCurve, sinceS: number, horizonS: number): number {
  const last = curve[curve.length - 1];
  if (last === undefined || sinceS >= last[0]) return 0;
  const before = returnedBy(curve, sinceS);
  if (before >= 1) return 0;
  return Math.max(0, (returnedBy(curve, sinceS + horizonS) - before) / (1 - before));
}

/** Submissions per second within the window before `now`. */
export function arrivalRate(arrivals: readonly number[], now: number, windowMs: number): number {
  let n = 0;
  for (const at of arrivals) if (at > now - windowMs && at <= now) n++;
  return n / (windowMs / 1000);
}

/** Expected session returns within the horizon, and how many users are between jobs. */
export function sessionReturns(
  s: PoolSnapshot,
  now: number,
  curve: ReturnCurve,
  horizonS: number,
): { expected: number; users: number } {
  // A user's latest finish is what their return is measured from; users with a job active are not between jobs.
  const lastEnd = new Map<string, number>();
  for (const f of s.recentFinishes) {
    if (s.activeUsers.has(f.userId) || f.at > now) continue;
    lastEnd.set(f.userId, Math.max(lastEnd.get(f.userId) ?? f.at, f.at));
  }
  let expected = 0;
  for (const at of lastEnd.values()) expected += returnWithin(curve, (now - at) / 1000, horizonS);
  return { expected, users: lastEnd.size };
}

/**
 * The smallest k with P(X > k) ≤ eps for X ~ Poisson(mean): the number of arrivals to be ready for so that
 * more than that many come with probability at most eps.
 */
export function poissonQuantile(mean: number, eps: number): number {
  if (!(mean > 0) || eps >= 1) return 0;
  let term = Math.exp(-mean);
  let cdf = term;
  let k = 0;
  // Bounded: the tail falls below any eps > 0 well before mean + 50·sqrt(mean) + 50.
  const limit = Math.ceil(mean + 50 * Math.sqrt(mean) + 50);
  while (1 - cdf > eps && k < limit) {
    k++;
    term *= mean / k;
    cdf += term;
  }
  return k;
}
