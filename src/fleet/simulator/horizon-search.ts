/**
 * Turns the operator's `target_p95_wait_s` into the autoscaler's `planning_horizon_s`: simulates the
 * autoscaler at a ladder of horizons on the same workload and picks the cheapest that keeps the peak p95
 * wait within the target. The live autoscaler runs the horizon; this is how the target chooses it.
 */
import type { Schedule } from '../schedule.js';
import { simulate, type Scenario, type SimInput } from './engine.js';
import { scenarioReport } from './report.js';

export interface HorizonPoint {
  horizonS: number;
  peakP95WaitS: number;
  costRatio: number;
}

export interface HorizonSearch {
  targetP95WaitS: number;
  points: HorizonPoint[];
  /** The cheapest horizon meeting the target; null when none does (the longest tried is then the closest). */
  recommendedS: number | null;
}

/** Horizons tried, in multiples of the expected cold start. */
const LADDER = [0.5, 0.75, 1, 1.17, 1.4, 1.7, 2];

/** Simulates `scenario` (the autoscaler) at each horizon of the ladder and picks one for the target. */
export function searchHorizon(
  input: SimInput,
  scenario: Scenario,
  peak: Schedule,
  targetP95WaitS: number,
): HorizonSearch {
  const coldS = scenario.pool.coldStartMs / 1000;
  const points = LADDER.map((f) => {
    const horizonS = Math.round(coldS * f);
    const s = { ...scenario, pool: { ...scenario.pool, planningHorizonS: horizonS } };
    const r = scenarioReport(input, s, simulate(input, s), peak);
    return { horizonS, peakP95WaitS: r.peakWait.p95, costRatio: r.lowerBoundRatio };
  });
  const meeting = points.filter((p) => p.peakP95WaitS <= targetP95WaitS);
  const cheapest = meeting.sort((a, b) => a.costRatio - b.costRatio)[0];
  return { targetP95WaitS, points, recommendedS: cheapest?.horizonS ?? null };
}
