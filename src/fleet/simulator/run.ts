/** Runs every scenario over one workload and assembles the report. */
import type { Schedule } from '../schedule.js';
import { simulate, type Scenario, type SimInput } from './engine.js';
import { lowerBoundSeconds, peakHours, scenarioJson, scenarioReport, type ScenarioReport } from './report.js';
import type { SimJob } from './workload.js';

export interface SimulationReport {
  workload: {
    source: string;
    jobs: number;
    /** Trace rows skipped as invalid (with --skip-invalid). */
    skippedRows: number;
    models: number;
    startAt: string;
    endAt: string;
    seed: number;
    lowerBoundGpuSeconds: number;
    peak: string;
    peakHours: number;
  };
  scenarios: ScenarioReport[];
  elapsedMs: number;
}

/** The simulation window for a list of jobs: whole hours from the first submission to an hour after the last. */
export function windowFor(jobs: readonly SimJob[]): { startAt: number; endAt: number } {
  const first = jobs[0]?.at ?? 0;
  const last = jobs[jobs.length - 1]?.at ?? first;
  const startAt = Math.floor(first / 3_600_000) * 3_600_000;
  return { startAt, endAt: Math.ceil((last + 3_600_000) / 3_600_000) * 3_600_000 };
}

/** Simulates each scenario on the same input; deterministic for a given input. */
export function runScenarios(
  input: SimInput,
  scenarios: readonly Scenario[],
  source: string,
  peak: Schedule,
  skippedRows = 0,
): SimulationReport {
  const started = performance.now();
  const reports = scenarios.map((s) => scenarioReport(input, s, simulate(input, s), peak));
  const models = new Set(input.jobs.map((j) => j.model).filter((m) => m !== null));
  return {
    workload: {
      source,
      jobs: input.jobs.length,
      skippedRows,
      models: models.size,
      startAt: new Date(input.startAt).toISOString(),
      endAt: new Date(input.endAt).toISOString(),
      seed: input.seed,
      lowerBoundGpuSeconds: Math.round(lowerBoundSeconds(input)),
      peak: peak.name,
      peakHours: peakHours(input, peak).filter(Boolean).length,
    },
    scenarios: reports,
    elapsedMs: Math.round(performance.now() - started),
  };
}

/** The `--out` JSON: `{ workload, scenarios: [ { name, peak_p95_wait_s, … } ] }` (CONTRACT v1.1). */
export function reportJson(report: SimulationReport) {
  const w = report.workload;
  return {
    workload: {
      source: w.source,
      jobs: w.jobs,
      skipped_rows: w.skippedRows,
      models: w.models,
      start_at: w.startAt,
      end_at: w.endAt,
      seed: w.seed,
      lower_bound_gpu_seconds: w.lowerBoundGpuSeconds,
      peak: w.peak,
      peak_hours: w.peakHours,
    },
    scenarios: report.scenarios.map((s) => scenarioJson(s, w.lowerBoundGpuSeconds)),
    elapsed_ms: report.elapsedMs,
  };
}
