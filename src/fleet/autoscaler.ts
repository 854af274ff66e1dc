/**
 * The anticipating autoscaler. Modal's reactive rule starts a worker only once a job waits for one, so that
 * job pays the whole cold start, and keeps every worker for a fixed window after its last job, so quiet
 * users cost as much idle time as busy ones. This policy sizes the pool as demand (running + queued) plus
 * spare workers, with two spare counts:
 *   - up: spares started ahead of demand, one per `upPerSpare` arrivals expected within one cold start at
 *     the short-window arrival rate (a burst gets workers before its jobs queue);
 *   - keep: spares an idle worker may stay warm for: the arrivals expected within `keepHorizonMs` at the
 *     long-window rate, or the users between jobs of a session (finished recently, nothing queued or
 *     running) × the chance they come back (59% within 60 s, 75% within 120 s in the target workload),
 *     whichever is larger.
 * Below `up` it starts workers at once; above `keep` it stops idle workers past the scale-down window,
 * longest idle first; in between it holds, which is the hysteresis that keeps start/stop churn (and cold
 * starts) down. Busy, starting and warming workers are never stopped. The defaults were tuned with
 * `arrakis simulate` on the synthetic 2,000-DAU workload (docs/fleet.md has the numbers).
 */
import { clampTarget, decisionFor } from './policy-common.js';
import type { Decision, PoolSnapshot } from './policy-types.js';

export interface AutoscalerTuning {
  /** Arrivals within this window set the scale-up rate (short: reacts to a burst within seconds). */
  upWindowMs: number;
  /** Arrivals within this window set the keep rate (long: a lull does not drop warm workers at once). */
  keepWindowMs: number;
  /** A user who finished a job this recently, with nothing active, counts as "in session". */
  sessionWindowMs: number;
  /** Chance that a user in session submits again within the keep horizon. */
  sessionReturnP: number;
  /** A spare is started for every this-many expected arrivals within one cold start. */
  upPerSpare: number;
  /** An idle worker is kept while it is expected to be used within this horizon. */
  keepHorizonMs: number;
}

export const DEFAULT_TUNING: Readonly<AutoscalerTuning> = Object.freeze({
  upWindowMs: 120_000,
  keepWindowMs: 300_000,
  sessionWindowMs: 180_000,
  sessionReturnP: 0.5,
  upPerSpare: 5,
  keepHorizonMs: 30_000,
});

interface Anticipation {
  upRate: number;
  keepRate: number;
  sessionUsers: number;
  /** Spare workers to start for. */
  up: number;
  /** Spare workers to keep warm (≥ up: the gap is the hysteresis that stops start/stop churn). */
  keep: number;
}

function ratePerS(arrivals: readonly number[], now: number, windowMs: number): number {
  let n = 0;
  for (const at of arrivals) if (at > now - windowMs && at <= now) n++;
  return n / (windowMs / 1000);
}

function anticipate(s: PoolSnapshot, now: number, t: AutoscalerTuning): Anticipation {
  const coldS = s.limits.coldStartMs / 1000;
  const upRate = ratePerS(s.recentArrivals, now, t.upWindowMs);
  const keepRate = ratePerS(s.recentArrivals, now, t.keepWindowMs);
  const between = new Set<string>();
  for (const f of s.recentFinishes) {
    if (now - f.at <= t.sessionWindowMs && !s.activeUsers.has(f.userId)) between.add(f.userId);
  }
  const up = Math.floor((upRate * coldS) / t.upPerSpare);
  const keepExpected = Math.max(
    Math.max(keepRate, upRate) * (t.keepHorizonMs / 1000),
    between.size * t.sessionReturnP,
  );
  const keep = Math.max(up, Math.floor(keepExpected));
  return { upRate, keepRate, sessionUsers: between.size, up, keep };
}

/** Decides the pool's target and the workers to start or stop now. Pure: same input, same answer. */
export function decide(
  snapshot: PoolSnapshot,
  now: number,
  tuning: AutoscalerTuning = DEFAULT_TUNING,
): Decision {
  const { limits } = snapshot;
  const live = snapshot.workers.length;
  const demand = snapshot.running + snapshot.queued;
  const a = anticipate(snapshot, now, tuning);
  const up = clampTarget(demand + Math.max(limits.buffer, a.up), limits);
  const keep = clampTarget(demand + Math.max(limits.buffer, a.keep), limits);
  // Between the two the pool holds: neither starts nor stops.
  const target = live < up.target ? up.target : Math.min(live, keep.target);
  const capped = up.capped ?? keep.capped;
  const why = [
    `demand ${demand} (running ${snapshot.running}, queued ${snapshot.queued})`,
    `spare up ${a.up} / keep ${a.keep} (arrivals ${a.upRate.toFixed(3)}/s now, ${a.keepRate.toFixed(3)}/s over ` +
      `${tuning.keepWindowMs / 1000} s, cold start ${Math.round(limits.coldStartMs / 1000)} s, ` +
      `${a.sessionUsers} users between jobs, buffer ${limits.buffer})`,
    `min ${limits.min}`,
    ...(capped === null ? [] : [`capped by ${capped}`]),
  ].join('; ');
  return decisionFor(snapshot, now, target, why);
}
