/** Turns raw simulation outcomes into the report: percentiles overall and at peak, cost, model loads, per-hour rows. */
import { scheduleMatches, type Schedule } from '../schedule.js';
import type { SimOutcome, Scenario, SimInput } from './engine.js';

export interface WaitStats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export interface HourRow {
  hour: string;
  arrivals: number;
  peak: boolean;
  p95WaitS: number;
  meanWorkers: number;
  busyGpus: number;
  coldStarts: number;
}

export interface ScenarioReport {
  name: string;
  description: string;
  jobs: number;
  wait: WaitStats;
  peakWait: WaitStats;
  coldStarts: number;
  gpuSeconds: number;
  /** In currency at the pool's price (0 without a price). */
  cost: number;
  /** GPU-seconds billed ÷ the sum of job durations (1.0 would be a perfect fleet). */
  lowerBoundRatio: number;
  /** Loads of a model into a GPU (warm-ups, preloads, switches), those that fetched a file, and switches. */
  modelLoads: number;
  modelFetches: number;
  switches: number;
  maxWorkers: number;
  hours: HourRow[];
}

/** Nearest-rank percentile of an ascending array (0 for an empty one). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

function stats(values: number[]): WaitStats {
  const sorted = Float64Array.from(values).sort();
  const mean = values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), mean };
}

/** Sum of job durations: what a fleet that existed only while running jobs would bill. */
export function lowerBoundSeconds(input: SimInput): number {
  return input.jobs.reduce((sum, j) => sum + j.durationS, 0);
}

/** Which hours of the window start inside the peak window (for the per-hour rows and the chart). */
export function peakHours(input: SimInput, peak: Schedule): boolean[] {
  const hours = Math.max(1, Math.ceil((input.endAt - input.startAt) / 3_600_000));
  return Array.from({ length: hours }, (_, h) => scheduleMatches(peak, input.startAt + h * 3_600_000));
}

/** Builds one scenario's report from its outcome. */
export function scenarioReport(
  input: SimInput,
  scenario: Scenario,
  out: SimOutcome,
  peakWindow: Schedule,
): ScenarioReport {
  const peak = peakHours(input, peakWindow);
  const hours = peak.length;
  const waitsByHour: number[][] = Array.from({ length: hours }, () => []);
  const busyByHour = new Float64Array(hours);
  const all: number[] = [];
  const atPeak: number[] = [];
  input.jobs.forEach((j, i) => {
    const wait = out.waitS[i] ?? 0;
    const h = Math.floor((j.at - input.startAt) / 3_600_000);
    all.push(wait);
    if (h >= 0 && h < hours) {
      waitsByHour[h]!.push(wait);
      busyByHour[h] = (busyByHour[h] ?? 0) + j.durationS;
    }
    if (scheduleMatches(peakWindow, j.at)) atPeak.push(wait);
  });
  const lower = lowerBoundSeconds(input);
  return {
    name: scenario.name,
    description: scenario.description,
    jobs: input.jobs.length,
    wait: stats(all),
    peakWait: stats(atPeak),
    coldStarts: out.coldStarts,
    gpuSeconds: out.billedSeconds,
    cost: out.billedSeconds * scenario.pool.pricePerGpuSecond,
    lowerBoundRatio: lower === 0 ? 0 : out.billedSeconds / lower,
    modelLoads: out.modelLoads,
    modelFetches: out.modelFetches,
    switches: out.switches,
    maxWorkers: out.maxWorkers,
    hours: waitsByHour.map((w, h) => ({
      hour: new Date(input.startAt + h * 3_600_000).toISOString(),
      arrivals: w.length,
      peak: peak[h] === true,
      p95WaitS: round(stats(w).p95),
      meanWorkers: round((out.workerSecondsByHour[h] ?? 0) / 3600),
      busyGpus: round((busyByHour[h] ?? 0) / 3600),
      coldStarts: out.coldStartsByHour[h] ?? 0,
    })),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** A fixed-width table of the scenarios, one line each. */
export function formatTable(reports: readonly ScenarioReport[]): string {
  const head = [
    'scenario',
    'p50 s',
    'p95 s',
    'p99 s',
    'peak p95 s',
    'peak p99 s',
    'cold starts',
    'loads',
    'fetches',
    'max workers',
    'GPU-s',
    'cost $',
    '× floor',
  ];
  const rows = reports.map((r) => [
    r.name,
    r.wait.p50.toFixed(1),
    r.wait.p95.toFixed(1),
    r.wait.p99.toFixed(1),
    r.peakWait.p95.toFixed(1),
    r.peakWait.p99.toFixed(1),
    String(r.coldStarts),
    String(r.modelLoads),
    String(r.modelFetches),
    String(r.maxWorkers),
    String(Math.round(r.gpuSeconds)),
    r.cost.toFixed(2),
    r.lowerBoundRatio.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One scenario in the `--out` JSON (snake_case, the CONTRACT's shape plus a few more figures). */
export function scenarioJson(r: ScenarioReport, lowerBoundGpuSeconds: number) {
  return {
    name: r.name,
    description: r.description,
    jobs: r.jobs,
    peak_p95_wait_s: round(r.peakWait.p95),
    p95_wait_s: round(r.wait.p95),
    p50_wait_s: round(r.wait.p50),
    p99_wait_s: round(r.wait.p99),
    peak_p99_wait_s: round(r.peakWait.p99),
    gpu_seconds: Math.round(r.gpuSeconds),
    lower_bound_gpu_seconds: Math.round(lowerBoundGpuSeconds),
    cost_ratio: round(r.lowerBoundRatio),
    cost: round(r.cost),
    cold_starts: r.coldStarts,
    model_loads: r.modelLoads,
    model_fetches: r.modelFetches,
    switches: r.switches,
    max_workers: r.maxWorkers,
    hours: r.hours.map((h) => ({
      hour: h.hour,
      arrivals: h.arrivals,
      peak: h.peak,
      p95_wait_s: h.p95WaitS,
      mean_workers: h.meanWorkers,
      busy_gpus: h.busyGpus,
      cold_starts: h.coldStarts,
    })),
  };
}
