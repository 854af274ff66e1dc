/**
 * Workloads for the simulator: a seedable synthetic service of ~2,000 daily users (`dau`), optionally with
 * Zipf-popular base models, or a trace CSV.
 * The synthetic one follows the facts: ~1,800 jobs a weekday, about half on weekend days, a diurnal
 * curve whose peak hour carries ~3.5× the mean hour with nights near zero, users working in sessions (the
 * next job follows the previous one's end within 60 s 59% of the time, within 120 s 75%, within 300 s 86%),
 * and a few bursts a day where many sessions start within three minutes.
 */
import { jobSeconds, poisson, seededRandom } from './random.js';

export interface SimJob {
  /** Submission time, epoch ms. */
  at: number;
  durationS: number;
  user: string;
  /** The base model the job loads (checkpoint file name); null when the workload does not say. */
  model: string | null;
}

export interface SyntheticOptions {
  days: number;
  seed: number;
  /** First day (a Monday, 00:00 UTC, so weekdays line up). */
  startAt?: number;
  /** Jobs on a weekday; default 0.9 per daily active user. */
  weekdayJobs?: number;
  /** Daily active users (default 2,000). */
  dau?: number;
  /** Base models the service offers, Zipf-popular; 0 (default) = jobs carry no model. */
  models?: number;
}

/** Monday 2026-01-05 00:00 UTC. */
export const SYNTHETIC_START = Date.UTC(2026, 0, 5);
/** Hour of day (UTC) where the diurnal curve peaks. */
export const SYNTHETIC_PEAK_HOUR = 15;
const DEFAULT_DAU = 2000;
const JOBS_PER_DAU = 0.9;
/**
 * Zipf exponent of model popularity. The public serving trace has its most used model at ~30% of jobs and the
 * top ten at ~85%; no single Zipf law gives both, and 1.3 (33% and 75% over 80 models) sits between them.
 */
export const ZIPF_EXPONENT = 1.3;
const SESSION_END_P = 0.14;
const WEEKEND_FACTOR = 0.5;
const BURSTS_PER_WEEKDAY = 1.5;
const SESSIONS_PER_BURST = 14;
const MEAN_JOBS_PER_SESSION = 1 / SESSION_END_P;

/** Relative arrival weight of each UTC hour: a bell around the peak hour over a near-zero floor. */
export function diurnalWeights(): number[] {
  const sigma = 2.6;
  return Array.from({ length: 24 }, (_, h) => {
    const d = Math.min(Math.abs(h + 0.5 - SYNTHETIC_PEAK_HOUR), 24 - Math.abs(h + 0.5 - SYNTHETIC_PEAK_HOUR));
    return 0.004 + Math.exp(-0.5 * (d / sigma) ** 2);
  });
}

function pickHour(rand: () => number, weights: number[], total: number): number {
  let u = rand() * total;
  for (let h = 0; h < 24; h++) {
    u -= weights[h]!;
    if (u <= 0) return h;
  }
  return 23;
}

/** Seconds between the end of one job and the user's next submission (within a session). */
function thinkSeconds(rand: () => number): number {
  const u = rand() * (1 - SESSION_END_P);
  if (u < 0.59) return 3 + rand() * 57;
  if (u < 0.75) return 60 + rand() * 60;
  return 120 + rand() * 180;
}

/** Draws model ranks 0..n-1 with P(rank k) ∝ (k+1)^-exponent. */
export function zipfSampler(n: number, exponent = ZIPF_EXPONENT): (rand: () => number) => number {
  const cdf: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cdf.push((total += k ** -exponent));
  return (rand) => {
    const u = rand() * total;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** The file name of the model of rank k (0 = most popular) in the synthetic service. */
export function syntheticModelName(rank: number): string {
  return `model-${String(rank + 1).padStart(3, '0')}.safetensors`;
}

interface SessionSpec {
  users: number;
  /** Draws a model name for a session, or null without models. */
  model: (rand: () => number) => string | null;
}

/** A user works with one base model through a session (a new session draws again). */
function session(rand: () => number, start: number, out: SimJob[], spec: SessionSpec): void {
  const user = `u${Math.floor(rand() * spec.users)}`;
  const model = spec.model(rand);
  let t = start;
  // Bounded: a session ends with probability SESSION_END_P after each job, and never runs past 60 jobs.
  for (let n = 0; n < 60; n++) {
    const durationS = jobSeconds(rand);
    out.push({ at: Math.round(t), durationS, user, model });
    if (rand() < SESSION_END_P) return;
    t += (durationS + thinkSeconds(rand)) * 1000;
  }
}

/** Generates a synthetic trace, sorted by submission time. Same options, same trace. */
export function syntheticWorkload(opts: SyntheticOptions): SimJob[] {
  const rand = seededRandom(opts.seed);
  const start = opts.startAt ?? SYNTHETIC_START;
  const dau = opts.dau ?? DEFAULT_DAU;
  const weekdayJobs = opts.weekdayJobs ?? Math.round(JOBS_PER_DAU * dau);
  const models = opts.models ?? 0;
  // Models come from their own stream so the arrivals are the same with or without them.
  const modelRand = seededRandom(opts.seed ^ 0x6d0de1);
  const rank = zipfSampler(Math.max(1, models));
  const spec: SessionSpec = {
    users: dau,
    model: () => (models > 0 ? syntheticModelName(rank(modelRand)) : null),
  };
  const weights = diurnalWeights();
  const total = weights.reduce((a, b) => a + b, 0);
  const jobs: SimJob[] = [];
  const burstJobs = BURSTS_PER_WEEKDAY * SESSIONS_PER_BURST * MEAN_JOBS_PER_SESSION;
  for (let day = 0; day < opts.days; day++) {
    const dayStart = start + day * 86_400_000;
    const weekday = new Date(dayStart).getUTCDay() % 6 !== 0;
    const factor = weekday ? 1 : WEEKEND_FACTOR;
    const sessions = poisson(rand, (factor * (weekdayJobs - burstJobs)) / MEAN_JOBS_PER_SESSION);
    for (let i = 0; i < sessions; i++) {
      const at = dayStart + (pickHour(rand, weights, total) + rand()) * 3_600_000;
      session(rand, at, jobs, spec);
    }
    const bursts = poisson(rand, factor * BURSTS_PER_WEEKDAY);
    for (let b = 0; b < bursts; b++) {
      const at = dayStart + (pickHour(rand, weights, total) + rand()) * 3_600_000;
      const n = poisson(rand, SESSIONS_PER_BURST);
      for (let i = 0; i < n; i++) session(rand, at + rand() * 180_000, jobs, spec);
    }
  }
  return jobs.sort((a, b) => a.at - b.at);
}
