import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/fleet/simulator/engine.js';
import { takeFair } from '../../src/fleet/simulator/claim-order.js';
import { EventHeap } from '../../src/fleet/simulator/heap.js';
import { coldStartSeconds, jobSeconds, seededRandom } from '../../src/fleet/simulator/random.js';
import { percentile } from '../../src/fleet/simulator/report.js';
import { runScenarios } from '../../src/fleet/simulator/run.js';
import { DEFAULT_PEAK, standardScenarios } from '../../src/fleet/simulator/scenarios.js';
import { parsePeak } from '../../src/fleet/simulator/peak-window.js';
import { SYNTHETIC_START, syntheticWorkload } from '../../src/fleet/simulator/workload.js';

const DAY = 86_400_000;
const PEAK = parsePeak(DEFAULT_PEAK);

function input(days: number, seed: number) {
  return {
    jobs: syntheticWorkload({ days, seed }),
    startAt: SYNTHETIC_START,
    endAt: SYNTHETIC_START + days * DAY,
    seed,
  };
}

describe('simulator', () => {
  const twoDays = runScenarios(input(2, 1), standardScenarios(), 'x', PEAK);

  it('is deterministic for a seed', () => {
    const pick = () =>
      standardScenarios().filter((s) => s.name === 'arrakis autoscaler' || s.name === 'modal reactive 60s');
    const a = runScenarios(input(1, 7), pick(), 'x', PEAK);
    const b = runScenarios(input(1, 7), pick(), 'x', PEAK);
    expect(a.scenarios).toEqual(b.scenarios);
    const c = runScenarios(input(1, 8), pick(), 'x', PEAK);
    expect(c.scenarios[0]?.gpuSeconds).not.toBe(a.scenarios[0]?.gpuSeconds);
  });

  it('never bills fewer GPU-seconds than the sum of job durations, in any scenario', () => {
    expect(twoDays.scenarios).toHaveLength(6);
    for (const s of twoDays.scenarios) {
      expect(s.lowerBoundRatio, s.name).toBeGreaterThanOrEqual(1);
      expect(s.gpuSeconds).toBeGreaterThanOrEqual(twoDays.workload.lowerBoundGpuSeconds);
    }
  });

  it('runs every job once, with no negative wait', () => {
    const inp = input(1, 5);
    const [scenario] = standardScenarios();
    if (scenario === undefined) throw new Error('no scenario');
    const out = simulate(inp, scenario);
    expect(out.waitS.length).toBe(inp.jobs.length);
    expect(Math.min(...out.waitS)).toBeGreaterThanOrEqual(0);
    expect(out.coldStarts).toBeGreaterThan(0);
  });

  it('shows the seed fixed knobs queueing at peak where the autoscaler does not', () => {
    const [mine, seed] = twoDays.scenarios;
    expect(seed?.peakWait.p95).toBeGreaterThan(600);
    expect(mine?.peakWait.p95).toBeLessThan(60);
  });

  it('learns the hour-of-day profile only from arrivals of previous days, never from future ones', () => {
    const inp = input(3, 4);
    const [scenario] = standardScenarios();
    if (scenario === undefined) throw new Error('no scenario');
    const beforeDay = new Map<number, number>();
    for (let d = 0; d <= 3; d++) {
      const dayStart = SYNTHETIC_START + d * DAY;
      beforeDay.set(dayStart, inp.jobs.filter((j) => j.at < dayStart).length);
    }
    let checked = 0;
    simulate(inp, {
      ...scenario,
      policy: (s, now) => {
        const dayStart = Math.floor(now / DAY) * DAY;
        const before = beforeDay.get(dayStart) ?? Number.NaN;
        const learned = s.arrivalProfile.byHour.reduce((a, b) => a + b, 0);
        // Weekdays compare with weekdays: the profile holds at most the arrivals before today.
        if (learned > before || (now < SYNTHETIC_START + DAY && s.arrivalProfile.days !== 0)) {
          throw new Error(`profile at ${new Date(now).toISOString()} holds ${learned} > ${before} arrivals`);
        }
        if (now >= SYNTHETIC_START + 2 * DAY && learned === before) checked++;
        return scenario.policy(s, now);
      },
    });
    expect(checked).toBeGreaterThan(0);
  });

  it('bills always-on workers for the whole window', () => {
    const always = twoDays.scenarios.find((s) => s.name === 'always-on 5');
    expect(always?.gpuSeconds).toBe(5 * 2 * 86_400);
    expect(always?.coldStarts).toBe(5);
  });
});

describe('synthetic workload', () => {
  const week = syntheticWorkload({ days: 7, seed: 11 });
  const perDay = Array.from(
    { length: 7 },
    (_, d) => week.filter((j) => Math.floor((j.at - SYNTHETIC_START) / DAY) === d).length,
  );

  it('has ~1,800 jobs a weekday and far fewer at the weekend', () => {
    for (const n of perDay.slice(0, 5)) expect(n).toBeGreaterThan(1400);
    for (const n of perDay.slice(0, 5)) expect(n).toBeLessThan(2300);
    for (const n of perDay.slice(5)) expect(n).toBeLessThan(1300);
  });

  it('peaks at ~3.5× the mean hour with nights near zero', () => {
    const hours = new Array<number>(24).fill(0);
    for (const j of week) hours[new Date(j.at).getUTCHours()]! += 1;
    const mean = week.length / 24;
    expect(Math.max(...hours) / mean).toBeGreaterThan(3);
    expect(Math.max(...hours) / mean).toBeLessThan(4.2);
    expect(hours[3]! / mean).toBeLessThan(0.1);
  });

  it('draws durations and cold starts matching the measured percentiles', () => {
    const rand = seededRandom(3);
    const d = Float64Array.from({ length: 20_000 }, () => jobSeconds(rand)).sort();
    expect(percentile(d, 50)).toBeCloseTo(23, -0.5);
    expect(percentile(d, 95)).toBeGreaterThan(62);
    expect(percentile(d, 95)).toBeLessThan(76);
    const c = Float64Array.from({ length: 20_000 }, () => coldStartSeconds(rand)).sort();
    expect(percentile(c, 50)).toBeCloseTo(22.7, 0);
    expect(percentile(c, 90)).toBeCloseTo(42, 0);
    expect(percentile(c, 99)).toBeCloseTo(52, 0);
  });

  it('has sessions: most next jobs follow the previous end within two minutes', () => {
    const last = new Map<string, number>();
    let within120 = 0;
    let pairs = 0;
    for (const j of week) {
      const prevEnd = last.get(j.user);
      if (prevEnd !== undefined) {
        pairs++;
        if (j.at - prevEnd <= 120_000) within120++;
      }
      last.set(j.user, j.at + j.durationS * 1000);
    }
    expect(within120 / pairs).toBeGreaterThan(0.6);
  });
});

describe('simulator parts', () => {
  it('the event heap pops in time order, ties in insertion order', () => {
    const heap = new EventHeap<{ at: number; seq: number }>();
    const times = [5, 1, 9, 1, 3, 7, 2];
    times.forEach((at, seq) => heap.push({ at, seq }));
    const out: Array<[number, number]> = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push([e.at, e.seq]);
    expect(out).toEqual([
      [1, 1],
      [1, 3],
      [2, 6],
      [3, 4],
      [5, 0],
      [7, 5],
      [9, 2],
    ]);
  });

  it('claims fairly: fewest running per user, then priority, then age', () => {
    const job = (index: number, user: string, priority: number, at: number) => ({
      index,
      user,
      priority,
      at,
      model: null,
      bypassedSince: null,
      awaitingHolder: false,
    });
    const queue = [job(0, 'heavy', 9, 1), job(1, 'light', 0, 3), job(2, 'light', 5, 4), job(3, 'new', 0, 2)];
    const running = new Map([
      ['heavy', 2],
      ['light', 0],
    ]);
    expect(takeFair(queue, running)?.index).toBe(2);
    expect(takeFair(queue, running)?.index).toBe(3);
    expect(takeFair(queue, running)?.index).toBe(1);
    expect(takeFair(queue, running)?.index).toBe(0);
    expect(takeFair(queue, running)).toBeUndefined();
  });
});
