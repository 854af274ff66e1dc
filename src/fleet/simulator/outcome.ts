/** The raw outcome of a run as it accumulates: per-job waits, per-hour billing and cold starts, counters. */
import type { SimInput, SimOutcome } from './sim-types.js';

const HOUR_MS = 3_600_000;

/** An empty outcome for `input` (hour rows run two days past the end, for workers still up then). */
export function newOutcome(input: SimInput): SimOutcome {
  const hours = Math.ceil((input.endAt - input.startAt) / HOUR_MS) + 48;
  return {
    waitS: new Float64Array(input.jobs.length),
    loadS: new Float64Array(input.jobs.length),
    workerSecondsByHour: new Float64Array(hours),
    coldStartsByHour: new Uint32Array(hours),
    coldStarts: 0,
    billedSeconds: 0,
    decisions: 0,
    modelLoads: 0,
    modelFetches: 0,
    switches: 0,
    maxWorkers: 0,
  };
}

/** The hour row of `at` (clamped into the outcome's rows). */
export function hourOf(out: SimOutcome, startAt: number, at: number): number {
  const h = Math.floor((at - startAt) / HOUR_MS);
  return Math.min(Math.max(h, 0), out.coldStartsByHour.length - 1);
}

/** Bills a worker that ran from `from` to `to` per second (every started second is paid), spread over hours. */
export function billWorker(out: SimOutcome, startAt: number, from: number, to: number): void {
  const billed = Math.ceil((to - from) / 1000);
  out.billedSeconds += billed;
  const end = from + billed * 1000;
  let t = from;
  while (t < end) {
    const hour = hourOf(out, startAt, t);
    const until = Math.min(end, startAt + (hour + 1) * HOUR_MS);
    out.workerSecondsByHour[hour] = (out.workerSecondsByHour[hour] ?? 0) + (until - t) / 1000;
    t = until;
  }
}

/** Counts a cold start in its hour. */
export function countColdStart(out: SimOutcome, startAt: number, at: number): void {
  out.coldStarts++;
  const hour = hourOf(out, startAt, at);
  out.coldStartsByHour[hour] = (out.coldStartsByHour[hour] ?? 0) + 1;
}
