/**
 * What is possible on the model-aware week (docs/fleet.md "What is possible"), for seeds 1–3 and both peak
 * windows (12:00–18:00 and the issue's 09:00–18:00):
 *   - the clairvoyant reference (knows every arrival, duration and model; NOT a runnable policy): the GPU time
 *     of its zero-wait plan, and what the simulator gives when it runs that plan with the real tiers;
 *   - the spare-keeping reference (online, optimistic): an idealised fleet with k spares per 5-minute slot of
 *     the weekday, replaced the instant one is taken, surplus stopped at once, every model everywhere;
 *     the cheapest per-slot counts for peak p95 ≤ 10 s fitted on the week itself (in-sample, optimistic),
 *     the same counts applied to the other seeds' weeks, and hand-written hourly profiles (no fitting);
 *     "tail fetch" also counts the first job of a session on a model outside the 32 most popular as a miss
 *     (it must fetch, > 10 s for 99% of draws, unless a spare's disk happens to hold it).
 * Run: node --import tsx bench/fleet-cost-bound.ts   (about a minute)
 */
import { scheduleMatches } from '../src/fleet/schedule.js';
import { clairvoyantScenario, planChains } from '../src/fleet/simulator/clairvoyant.js';
import { simulate } from '../src/fleet/simulator/engine.js';
import { parsePeak } from '../src/fleet/simulator/peak-window.js';
import { percentile } from '../src/fleet/simulator/report.js';
import { DEFAULT_AUTOSCALER_POOL, DEFAULT_AFFINITY_MAX_DELAY_MS } from '../src/fleet/simulator/scenarios.js';
import { optimiseSpares, runSpares, weekdaySpares } from '../src/fleet/simulator/spare-bound.js';
import { SYNTHETIC_START, syntheticWorkload, type SimJob } from '../src/fleet/simulator/workload.js';
import { weekTiers } from './fleet-week-tiers.js';

const tiers = weekTiers();
const LEAD_S = 13 + 1.9;
const END = SYNTHETIC_START + 7 * 86_400_000;
const WINDOWS = ['Mon-Fri 12:00-18:00', 'Mon-Fri 09:00-18:00'];
const weeks = [1, 2, 3].map((seed) => syntheticWorkload({ days: 7, seed, dau: 2000, models: 80 }));
const floorOf = (jobs: readonly SimJob[]) => jobs.reduce((a, j) => a + j.durationS, 0);

function p95In(jobs: readonly SimJob[], waits: ArrayLike<number>, window: string, miss: boolean[] = []) {
  const w = parsePeak(window);
  const xs = jobs.flatMap((j, i) => (scheduleMatches(w, j.at) ? [miss[i] ? Infinity : waits[i]!] : []));
  return percentile(Float64Array.from(xs).sort(), 95);
}

/** First job of a session (no job of its user ended within the 300 s before) on a model outside the top 32. */
function tailFetches(jobs: readonly SimJob[]): boolean[] {
  const lastEnd = new Map<string, number>();
  return jobs.map((j) => {
    const e = lastEnd.get(j.user);
    const fresh = e === undefined || j.at - e > 300_000 || j.at < e;
    lastEnd.set(j.user, Math.max(e ?? 0, j.at + j.durationS * 1000));
    return fresh && Number(/(\d+)/.exec(j.model ?? '0')![1]) > 32;
  });
}

console.log('## Clairvoyant reference (knows the future; not a runnable policy)');
weeks.forEach((jobs, i) => {
  const floor = floorOf(jobs);
  const chains = planChains(jobs, LEAD_S);
  const plan = chains.reduce((a, c) => a + (c.endAt - c.startAt) / 1000, 0);
  const input = { jobs, startAt: SYNTHETIC_START, endAt: END, seed: i + 1, tiers };
  const scenario = {
    ...clairvoyantScenario(jobs, tiers, DEFAULT_AUTOSCALER_POOL),
    affinityMaxDelayMs: DEFAULT_AFFINITY_MAX_DELAY_MS,
  };
  const out = simulate(input, scenario);
  console.log(
    `seed ${i + 1}: zero-wait plan ${(plan / floor).toFixed(2)}× floor (${chains.length} workers started); ` +
      `run in the simulator: peak p95 ${p95In(jobs, out.waitS, WINDOWS[0]!).toFixed(1)} s ` +
      `(09-18 ${p95In(jobs, out.waitS, WINDOWS[1]!).toFixed(1)} s), ${(out.billedSeconds / floor).toFixed(2)}× floor, ` +
      `${out.modelFetches} fetches`,
  );
});

console.log('\n## Spare-keeping reference (online, idealised: every model everywhere, instant replacement)');
for (const window of WINDOWS) {
  const win = parsePeak(window);
  console.log(`### peak ${window}`);
  weeks.forEach((jobs, i) => {
    const floor = floorOf(jobs);
    const none = runSpares(jobs, () => 0, LEAD_S, SYNTHETIC_START, END);
    const fit = optimiseSpares(jobs, win, LEAD_S, SYNTHETIC_START, END);
    const miss = tailFetches(jobs);
    const tail = optimiseSpares(jobs, win, LEAD_S, SYNTHETIC_START, END, 10, 6, miss);
    const others = weeks
      .map((other, j) => {
        if (j === i) return null;
        const r = runSpares(other, weekdaySpares(fit.bySlot, win), LEAD_S, SYNTHETIC_START, END);
        return `seed ${j + 1} ${p95In(other, r.waitS, window).toFixed(1)} s ${(r.billedS / floorOf(other)).toFixed(2)}×`;
      })
      .filter((x) => x !== null);
    console.log(
      `seed ${i + 1}: no spares ${p95In(jobs, none.waitS, window).toFixed(1)} s ${(none.billedS / floor).toFixed(2)}×; ` +
        `cheapest per-slot spares ${fit.peakP95WaitS.toFixed(1)} s ${fit.costRatio.toFixed(2)}× ` +
        `(window ${(fit.windowBilledS / fit.windowFloorS).toFixed(2)}× its jobs); with tail fetches ` +
        `${tail.peakP95WaitS.toFixed(1)} s ${tail.costRatio.toFixed(2)}×; the seed-${i + 1} counts on ${others.join(', ')}`,
    );
  });
  const profiles: Record<string, number[]> = window.startsWith('Mon-Fri 12')
    ? {
        '12-17h: 1 2 2 2 2 1': [0, 0, 0, 1, 2, 2, 2, 2, 1],
        '12-17h: 2 2 2 2 2 2': [0, 0, 0, 2, 2, 2, 2, 2, 2],
      }
    : {
        '09-17h: 0 1 1 1 2 2 2 2 1': [0, 1, 1, 1, 2, 2, 2, 2, 1],
        '09-17h: 1 1 1 1 2 2 2 2 2': [1, 1, 1, 1, 2, 2, 2, 2, 2],
      };
  for (const [name, prof] of Object.entries(profiles)) {
    const bySlot = new Array<number>(288).fill(0);
    for (let h = 9; h < 18; h++) for (let s = 0; s < 12; s++) bySlot[h * 12 + s] = prof[h - 9]!;
    const cells = weeks.map((jobs, i) => {
      const r = runSpares(jobs, weekdaySpares(bySlot, win), LEAD_S, SYNTHETIC_START, END);
      const miss = tailFetches(jobs);
      return (
        `seed ${i + 1} ${p95In(jobs, r.waitS, window).toFixed(1)} s ` +
        `(tail ${p95In(jobs, r.waitS, window, miss).toFixed(1)} s) ${(r.billedS / floorOf(jobs)).toFixed(2)}×`
      );
    });
    console.log(`hourly spares ${name}: ${cells.join('; ')}`);
  }
}
