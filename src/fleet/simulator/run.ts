/** Runs every scenario over one workload and assembles the report. */
import { simulate, type Scenario, type SimInput } from './engine.js';
import { lowerBoundSeconds, peakHours, scenarioReport, type ScenarioReport } from './report.js';
import type { SimJob } from './workload.js';

export interface SimulationReport {
  workload: {
    source: string;
    jobs: number;
    startAt: string;
    endAt: string;
    seed: number;
    lowerBoundGpuSeconds: number;
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
): SimulationReport {
  const started = performance.now();
  const peak = peakHours(input);
  const reports = scenarios.map((s) => scenarioReport(input, s, simulate(input, s), peak));
  return {
    workload: {
      source,
      jobs: input.jobs.length,
      startAt: new Date(input.startAt).toISOString(),
      endAt: new Date(input.endAt).toISOString(),
      seed: input.seed,
      lowerBoundGpuSeconds: Math.round(lowerBoundSeconds(input)),
      peakHours: peak.filter(Boolean).length,
    },
    scenarios: reports,
    elapsedMs: Math.round(performance.now() - started),
  };
}
