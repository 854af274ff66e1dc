/**
 * The anticipating autoscaler. Modal's reactive rule starts a worker only once a job waits for one, so that
 * job pays the whole cold start, and keeps every worker for a fixed window after its last job. This policy
 * sizes the pool as demand (running + queued) plus spare workers for the jobs expected within a horizon of
 * about one cold start (a worker started later could not be ready for them):
 *   - expected jobs = the users between jobs of a session × their chance of returning within the horizon
 *     (read off the trace's return curve, measured from each user's last finish) + fresh sessions at a share
 *     of the recent arrival rate;
 *   - spares = how many of those jobs could come at once with more than a given risk (a Poisson quantile),
 *     less the running jobs expected to finish within the horizon and free their worker;
 *   - two risks: a worker is started when the chance of running out exceeds `start`, and an idle one is kept
 *     while it exceeds `keep` (keep < start: the band between them is the hysteresis that stops churn).
 * Both risks follow how busy the pool is: how this hour of the day compared with the mean hour on previous
 * days (learned online, `arrival-history.ts`), or the arrival rate until a day has been seen. When quiet an
 * idle worker waits long for its next job and a miss delays few users, so it stops early; when busy the pool
 * keeps more spares. The defaults were tuned with `arrakis simulate` on the synthetic 2,000-DAU workload
 * (docs/fleet.md has the numbers).
 */
import {
  arrivalRate,
  poissonQuantile,
  sessionReturns,
  TRACE_RETURN_CURVE,
  type ReturnCurve,
} from './demand-forecast.js';
import { DEFAULT_MODEL_PLAN_TUNING, planModels, type ModelPlanTuning } from './model-plan.js';
import { clampTarget, decisionFor } from './policy-common.js';
import type { Decision, PoolSnapshot } from './policy-types.js';

/** Risks of running out of workers within the horizon, tolerated before starting (start) or stopping (keep). */
export interface SpareRisk {
  start: number;
  keep: number;
}

export interface AutoscalerTuning {
  /** Horizon of the forecast, in expected cold starts. */
  horizonColdStarts: number;
  /** Arrivals within this window give the sustained rate (and tell quiet from busy). */
  longWindowMs: number;
  /** Arrivals within this window catch a burst within seconds. */
  shortWindowMs: number;
  /** Share of the arrival rate that starts new sessions (returns are forecast from the users themselves). */
  freshShare: number;
  /** Share of running jobs expected to finish within the horizon and free a worker for the next arrival. */
  busyFreeShare: number;
  /** Chance a user between jobs submits again, by seconds since their last job ended. */
  returnCurve: ReturnCurve;
  /** At or below this sustained rate (jobs/s) the pool is quiet; at or above `busyRate`, busy; linear between. */
  quietRate: number;
  busyRate: number;
  /**
   * Hours whose arrivals on previous days were at most `quietHourRatio` × the mean hour count as quiet, at
   * least `busyHourRatio` × as busy, linear between. Once there is a history it decides how busy the pool
   * is; until then the rate does.
   */
  quietHourRatio: number;
  busyHourRatio: number;
  quiet: SpareRisk;
  busy: SpareRisk;
  /** Share of the planning horizon used in a quiet hour when jobs carry models (1 = the same all day). */
  quietHorizonShare: number;
  /** The model plan's knobs (pools whose jobs carry models). */
  models: ModelPlanTuning;
}

export const DEFAULT_TUNING: Readonly<AutoscalerTuning> = Object.freeze({
  horizonColdStarts: 1.17,
  longWindowMs: 300_000,
  shortWindowMs: 60_000,
  freshShare: 0.15,
  busyFreeShare: 0.5,
  returnCurve: TRACE_RETURN_CURVE,
  quietRate: 0.02,
  busyRate: 0.05,
  quietHourRatio: 1,
  busyHourRatio: 2.5,
  quiet: Object.freeze({ start: 0.8, keep: 0.35 }),
  busy: Object.freeze({ start: 0.4, keep: 0.15 }),
  quietHorizonShare: 0.3,
  models: DEFAULT_MODEL_PLAN_TUNING,
});

interface Anticipation {
  rate: number;
  longRate: number;
  sessionUsers: number;
  expected: number;
  /** Spare workers to start for. */
  up: number;
  /** Spare workers to keep warm (≥ up). */
  keep: number;
  horizonS: number;
}

function between(v: number, lo: number, hi: number): number {
  if (hi <= lo) return v >= hi ? 1 : 0;
  return Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
}

/**
 * How busy the pool is, 0 (quiet) to 1 (busy): how this hour of the day compared with the mean hour on
 * previous days, or, while there is no history yet, the sustained arrival rate. The hour decides once it is
 * known because the rate lags: a quiet spell inside the afternoon peak, or the ramp into it, looks quiet by
 * rate just when a miss costs most.
 */
function busyness(s: PoolSnapshot, now: number, longRate: number, t: AutoscalerTuning): number {
  const { days, byHour } = s.arrivalProfile;
  const total = byHour.reduce((a, b) => a + b, 0);
  if (days <= 0 || total <= 0) return between(longRate, t.quietRate, t.busyRate);
  const hour = Math.floor((now % 86_400_000) / 3_600_000);
  return between(((byHour[hour] ?? 0) * 24) / total, t.quietHourRatio, t.busyHourRatio);
}

/** Seconds ahead the pool provisions for: the fleet file's planning horizon, else the tuned share of a cold start. */
export function horizonSeconds(s: PoolSnapshot, t: AutoscalerTuning): number {
  return s.limits.planningHorizonS ?? (s.limits.coldStartMs / 1000) * t.horizonColdStarts;
}

/**
 * The horizon this hour: the full one when busy, `quietHorizonShare` of it when quiet, linear between. A
 * quiet hour's lone job pays a cold start whatever the spares, so a long look-ahead there only bills idle
 * workers; the peak keeps the whole horizon.
 */
function effectiveHorizonS(s: PoolSnapshot, x: number, t: AutoscalerTuning): number {
  // Only with models (the model-less autoscaler was tuned with one horizon all day; its figures stand).
  if (s.models === undefined) return horizonSeconds(s, t);
  return horizonSeconds(s, t) * (t.quietHorizonShare + x * (1 - t.quietHorizonShare));
}

function anticipate(s: PoolSnapshot, now: number, t: AutoscalerTuning): Anticipation {
  const longRate = arrivalRate(s.recentArrivals, now, t.longWindowMs);
  const x = busyness(s, now, longRate, t);
  // Outside the operator's latency hours the pool provisions for nothing ahead: no spares, a worker per
  // waiting job, stopped once idle (the wait target does not apply there; the saving pays for peak spares).
  const horizonS = s.limits.offHours === true ? 0 : effectiveHorizonS(s, x, t);
  const rate = Math.max(longRate, arrivalRate(s.recentArrivals, now, t.shortWindowMs));
  const sessions = sessionReturns(s, now, t.returnCurve, horizonS);
  const expected = sessions.expected + t.freshShare * rate * horizonS;
  const startRisk = t.quiet.start + x * (t.busy.start - t.quiet.start);
  const keepRisk = t.quiet.keep + x * (t.busy.keep - t.quiet.keep);
  const frees = Math.floor(s.running * t.busyFreeShare);
  const up = Math.max(0, poissonQuantile(expected, startRisk) - frees);
  const keep = Math.max(up, poissonQuantile(expected, keepRisk) - frees);
  return { rate, longRate, sessionUsers: sessions.users, expected, up, keep, horizonS };
}

/**
 * Decides the pool's target and the workers to start or stop now, and, when the snapshot carries models,
 * which models its workers hold (`model-plan.ts`). Pure: same input, same answer.
 */
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
    `spare up ${a.up} / keep ${a.keep} (${a.expected.toFixed(2)} jobs expected within ` +
      `${Math.round(horizonSeconds(snapshot, tuning))} s` +
      (Math.round(a.horizonS) === Math.round(horizonSeconds(snapshot, tuning))
        ? ''
        : ` (${Math.round(a.horizonS)} s this quiet hour)`) +
      `: ${a.sessionUsers} users ` +
      `between jobs, arrivals ${a.rate.toFixed(3)}/s now, ${a.longRate.toFixed(3)}/s over ` +
      `${tuning.longWindowMs / 1000} s; buffer ${limits.buffer})`,
    `min ${limits.min}`,
    ...(limits.offHours === true ? ['outside latency_hours: no spares'] : []),
    ...(capped === null ? [] : [`capped by ${capped}`]),
  ].join('; ');
  return planModels(snapshot, decisionFor(snapshot, now, target, why), tuning.models);
}
