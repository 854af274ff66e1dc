import { describe, expect, it } from 'vitest';
import { scheduleMatches } from '../../src/fleet/schedule.js';
import { reactiveDecide } from '../../src/fleet/reactive.js';
import { parsePeak } from '../../src/fleet/simulator/peak-window.js';
import { clairvoyantScenario, planChains } from '../../src/fleet/simulator/clairvoyant.js';
import { simulate, type SimInput } from '../../src/fleet/simulator/engine.js';
import { DEFAULT_TIERS, type ModelTiers } from '../../src/fleet/simulator/model-tiers.js';
import { DEFAULT_AUTOSCALER_POOL } from '../../src/fleet/simulator/scenarios.js';
import { optimiseSpares, runSpares, weekdaySpares } from '../../src/fleet/simulator/spare-bound.js';
import { SYNTHETIC_START, syntheticWorkload, type SimJob } from '../../src/fleet/simulator/workload.js';

const T0 = Date.UTC(2026, 0, 5, 13);
const TIERS: ModelTiers = { ...DEFAULT_TIERS, bootS: 10, fetchS: () => 20, fetchMedianS: 20, diskLoadS: 2 };
const job = (atS: number, durationS: number, user = 'u', model: string | null = null): SimJob => ({
  at: T0 + atS * 1000,
  durationS,
  user,
  model,
});

describe('the clairvoyant reference', () => {
  it('chains a job onto the worker freed most recently when that gap costs less than a new worker', () => {
    // Workers free at 10 s and 20 s; the job at 25 s follows the one freed at 20 s (gap 5 s < lead 12 s);
    // the job at 200 s finds every worker idle for longer than a lead and opens a new chain.
    const chains = planChains([job(0, 10), job(5, 15), job(25, 5), job(200, 5)], 12);
    expect(chains.map((c) => [(c.startAt - T0) / 1000, (c.endAt - T0) / 1000, c.jobs])).toEqual([
      [-12, 10, 1],
      [-7, 30, 2],
      [188, 205, 1],
    ]);
  });

  it('starts each worker ahead of the job it knows will come, even after a quiet night, so nobody waits', () => {
    const jobs = [job(3600, 20), job(3700, 20), job(9000, 20)];
    const input: SimInput = { jobs, startAt: T0, endAt: T0 + 4 * 3_600_000, seed: 1, tiers: TIERS };
    const scenario = clairvoyantScenario(jobs, TIERS, DEFAULT_AUTOSCALER_POOL);
    expect(scenario.description).toMatch(/NOT A RUNNABLE POLICY/);
    const out = simulate(input, scenario);
    expect([...out.waitS]).toEqual([0, 0, 0]);
    // Three workers (the gaps are longer than a boot), each billed its boot, at most one tick early, and its job.
    expect(out.coldStarts).toBe(3);
    expect(out.billedSeconds).toBeGreaterThanOrEqual(3 * (10 + 20));
    expect(out.billedSeconds).toBeLessThanOrEqual(3 * (10 + 5 + 20) + 3);
    // A reactive fleet pays each boot as a wait.
    const reactive = simulate(input, { ...scenario, policy: reactiveDecide, alwaysTick: false });
    expect([...reactive.waitS]).toEqual([10, 10, 10]);
  });
});

describe('the spare-keeping reference', () => {
  const window = parsePeak('daily 00:00-24:00');

  it('without spares a job waits a boot; with one spare it waits nothing and a replacement boots', () => {
    const jobs = [job(60, 5), job(120, 5)];
    const none = runSpares(jobs, () => 0, 10, T0, T0 + 600_000);
    expect([...none.waitS]).toEqual([10, 10]);
    expect(none.starts).toBe(2);
    expect(none.billedS).toBeCloseTo(2 * (10 + 5), 6);
    const one = runSpares(jobs, weekdaySpares(new Array<number>(288).fill(1), window), 10, T0, T0 + 600_000);
    expect([...one.waitS]).toEqual([0, 0]);
    // The first spare, then one replacement per job taken.
    expect(one.starts).toBe(3);
  });

  it('a job arriving while every spare is taken waits for the first worker to free or boot', () => {
    const jobs = [job(60, 100), job(61, 100), job(62, 3)];
    const one = runSpares(jobs, () => 1, 10, T0, T0 + 600_000);
    // 60 s takes the spare (a replacement boots until 70 s); 61 s and 62 s each start one too (ready at 71
    // and 72 s) and take the first two that are ready.
    expect([...one.waitS]).toEqual([0, 9, 9]);
  });

  it('picks the cheapest spares per slot that keep the window p95 within the target', () => {
    const jobs = syntheticWorkload({ days: 2, seed: 4, dau: 400 });
    const end = SYNTHETIC_START + 2 * 86_400_000;
    const win = parsePeak('daily 12:00-18:00');
    const reactive = runSpares(jobs, () => 0, 14.9, SYNTHETIC_START, end);
    const reactiveP95 = [...reactive.waitS]
      .filter((_, i) => scheduleMatches(win, jobs[i]!.at))
      .sort((a, b) => a - b);
    expect(reactiveP95[Math.ceil(0.95 * reactiveP95.length) - 1]).toBeGreaterThan(10);
    const best = optimiseSpares(jobs, win, 14.9, SYNTHETIC_START, end, 10);
    expect(best.peakP95WaitS).toBeLessThanOrEqual(10);
    expect(best.bySlot.some((k) => k > 0)).toBe(true);
    // Spares only inside the window, and they cost more than the reactive fleet.
    expect(best.bySlot.slice(0, 144).every((k) => k === 0)).toBe(true);
    expect(best.run.billedS).toBeGreaterThan(reactive.billedS);
  });
});
