/**
 * How long `arrakis simulate` takes on a 3-week trace of ~30,000 jobs (the bar: under 10 s).
 * Run: node --import tsx bench/simulate.ts
 */
import { simulate } from '../src/fleet/simulator/engine.js';
import { standardScenarios } from '../src/fleet/simulator/scenarios.js';
import { SYNTHETIC_START, syntheticWorkload } from '../src/fleet/simulator/workload.js';

const days = 21;
const jobs = syntheticWorkload({ days, seed: 1, weekdayJobs: 1_700 });
const input = { jobs, startAt: SYNTHETIC_START, endAt: SYNTHETIC_START + days * 86_400_000, seed: 1 };
process.stdout.write(`${jobs.length} jobs over ${days} days\n`);
let total = 0;
for (const scenario of standardScenarios()) {
  const t0 = performance.now();
  const out = simulate(input, scenario);
  const ms = performance.now() - t0;
  total += ms;
  process.stdout.write(
    `${scenario.name.padEnd(22)} ${ms.toFixed(0).padStart(6)} ms  (${out.decisions} decisions)\n`,
  );
}
process.stdout.write(`all scenarios          ${total.toFixed(0).padStart(6)} ms\n`);
