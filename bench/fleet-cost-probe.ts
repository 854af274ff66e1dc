/**
 * The autoscaler alone on the bench's model-aware week (docs/fleet.md "Results: the model-aware week"), for
 * the cost-goal work: one run per seed gives the peak p95 over both peak windows (12:00–18:00 and the issue's
 * 09:00–18:00), × floor, fetches, and where the money goes (peak / off-peak billing over their jobs' time).
 * Run: node --import tsx bench/fleet-cost-probe.ts [--seeds 1,2,3] [--horizon 38] [--hours "Mon-Fri 12:00-18:00"]
 *        [--no-copies] [--buffers "12-18:1"] [--prefetch-cover 2] [--tuning '{"busyFreeShare":0.5}']
 */
import { decide, DEFAULT_TUNING, type AutoscalerTuning } from '../src/fleet/autoscaler.js';
import { scheduleMatches } from '../src/fleet/schedule.js';
import { simulate } from '../src/fleet/simulator/engine.js';
import { expectedColdStartS } from '../src/fleet/simulator/model-tiers.js';
import { parsePeak } from '../src/fleet/simulator/peak-window.js';
import { percentile } from '../src/fleet/simulator/report.js';
import { DEFAULT_AUTOSCALER_POOL, standardScenarios } from '../src/fleet/simulator/scenarios.js';
import { SYNTHETIC_START, syntheticWorkload } from '../src/fleet/simulator/workload.js';
import { weekTiers } from './fleet-week-tiers.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}
const seeds = (arg('--seeds') ?? '1,2,3').split(',').map(Number);
const horizon = arg('--horizon') === undefined ? null : Number(arg('--horizon'));
const hours = arg('--hours') ?? 'Mon-Fri 12:00-18:00';
const copies = !process.argv.includes('--no-copies');
/** The fleet file's `prefetch_cover` (absent: the tuned default). */
const cover = arg('--prefetch-cover') === undefined ? {} : { prefetchCover: Number(arg('--prefetch-cover')) };
/** `--buffers "12-13:1,13-17:2"`: weekday schedules (UTC hours) with that buffer, as a fleet file would. */
const schedules = (arg('--buffers') ?? '')
  .split(',')
  .filter((x) => x !== '')
  .map((x) => {
    const [hours, buffer] = x.split(':');
    const [from, to] = hours!.split('-').map(Number);
    return {
      name: `buffer ${x}`,
      days: [1, 2, 3, 4, 5],
      startMinute: from! * 60,
      endMinute: to! * 60,
      offsetMinutes: 0,
      min: null,
      buffer: Number(buffer),
    };
  });
const overrides = JSON.parse(arg('--tuning') ?? '{}') as Partial<AutoscalerTuning> & {
  models?: Partial<AutoscalerTuning['models']>;
};
const tuning: AutoscalerTuning = {
  ...DEFAULT_TUNING,
  ...overrides,
  models: { ...DEFAULT_TUNING.models, ...(overrides.models ?? {}) },
};

const tiers = weekTiers();
const windows = ['Mon-Fri 12:00-18:00', 'Mon-Fri 09:00-18:00'].map((w) => parsePeak(w));

for (const seed of seeds) {
  const jobs = syntheticWorkload({ days: 7, seed, dau: 2000, models: 80 });
  const input = { jobs, startAt: SYNTHETIC_START, endAt: SYNTHETIC_START + 7 * 86_400_000, seed, tiers };
  const pool = {
    ...DEFAULT_AUTOSCALER_POOL,
    coldStartMs: expectedColdStartS(tiers, true) * 1000,
    planningHorizonS: horizon,
    sessionCopies: copies,
    latencyHours: hours === 'none' ? null : parsePeak(hours),
    schedules,
    ...cover,
  };
  const scenario = standardScenarios(pool, { withModels: true })[0]!;
  const t0 = performance.now();
  const out = simulate(input, { ...scenario, policy: (s, now) => decide(s, now, tuning) });
  const ms = performance.now() - t0;
  const floor = jobs.reduce((a, j) => a + j.durationS, 0);
  const cells = windows.map((w) => {
    const waits = jobs.flatMap((j, i) => (scheduleMatches(w, j.at) ? [out.waitS[i]!] : []));
    return percentile(Float64Array.from(waits).sort(), 95).toFixed(2);
  });
  // Billing inside and outside the 12–18 window, over the GPU time of the jobs submitted there.
  let peakBill = 0;
  let offBill = 0;
  out.workerSecondsByHour.forEach((s, h) => {
    if (scheduleMatches(windows[0]!, SYNTHETIC_START + h * 3_600_000)) peakBill += s;
    else offBill += s;
  });
  let peakFloor = 0;
  for (const j of jobs) if (scheduleMatches(windows[0]!, j.at)) peakFloor += j.durationS;
  console.log(
    `seed ${seed}: peak p95 ${cells[0]} s (09-18: ${cells[1]} s), ${(out.billedSeconds / floor).toFixed(4)}× floor, ` +
      `${out.modelFetches} fetches, ${out.coldStarts} starts; peak ${(peakBill / peakFloor).toFixed(2)}×, ` +
      `off ${(offBill / (floor - peakFloor)).toFixed(2)}× (${(ms / 1000).toFixed(1)} s)`,
  );
}
