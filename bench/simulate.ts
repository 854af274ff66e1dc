/**
 * The model-aware fleet on a synthetic week: 2,000 DAU, 80 Zipf-popular base models, boot 13 s, fetches
 * drawn from a lognormal load-samples file (median 23 s, p90 42 s, bench/data), disk load 1.9 s,
 * 32 files on each host's disk and 16 models resident per worker. Prints the standard table (the autoscaler
 * with prefetch and affinity against model-blind reactive rules and a peak-hours warm pool, all paying the
 * same tiers), the naive fleet (1 resident, no disk cache), the goal against --vram-models 1 / 4 / 16, the
 * autoscaler's frontier over its planning horizon, and seeds 1–3, each without and with session copies
 * (fleet file `session_copies`), and with `latency_hours` over the peak window (no spares off hours, the
 * off-peak p95 printed too). Also times one run of the week.
 * Run: node --import tsx bench/simulate.ts [--quick]
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runSimulate, type SimulateOptions } from '../src/cli/simulate.js';
import { simulate } from '../src/fleet/simulator/engine.js';
import { expectedColdStartS } from '../src/fleet/simulator/model-tiers.js';
import { parsePeak } from '../src/fleet/simulator/peak-window.js';
import { normal, seededRandom } from '../src/fleet/simulator/random.js';
import { scenarioReport, type ScenarioReport } from '../src/fleet/simulator/report.js';
import {
  DEFAULT_AUTOSCALER_POOL,
  DEFAULT_PEAK,
  standardScenarios,
} from '../src/fleet/simulator/scenarios.js';
import { SYNTHETIC_START, syntheticWorkload } from '../src/fleet/simulator/workload.js';
import { scheduleMatches } from '../src/fleet/schedule.js';
import { percentile } from '../src/fleet/simulator/report.js';
import { LOAD_SAMPLES, weekTiers } from './fleet-week-tiers.js';

const quick = process.argv.includes('--quick');
const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-sim-'));
const print = (line: string) => process.stdout.write(`${line}\n`);
const quiet = () => undefined;

/**
 * Lognormal fetch times with median 23 s and p90 42 s (σ = ln(42 / 23) / 1.2816), 2,000 samples from seed 1,
 * kept in bench/data so `arrakis simulate --load-samples` reproduces the figures in docs/fleet.md.
 */

function writeLoadSamples(n = 2_000): void {
  if (existsSync(LOAD_SAMPLES)) return;
  const rand = seededRandom(1);
  const sigma = Math.log(42 / 23) / 1.2816;
  const lines = ['seconds'];
  for (let i = 0; i < n; i++) lines.push((23 * Math.exp(sigma * normal(rand))).toFixed(2));
  mkdirSync(dirname(LOAD_SAMPLES), { recursive: true });
  writeFileSync(LOAD_SAMPLES, `${lines.join('\n')}\n`);
}
writeLoadSamples();

function base(seed: number): SimulateOptions {
  return {
    days: 7,
    seed,
    models: 80,
    bootS: 13,
    loadSamples: LOAD_SAMPLES,
    diskLoadS: 1.9,
    diskCacheModels: 32,
    vramModels: 16,
  };
}

/**
 * One scenario of the standard set on the bench's week, simulated alone (runSimulate runs all six): the
 * same workload, tiers, cold start and peak window as `arrakis simulate` with the flags of `base`.
 */
interface Only {
  seed: number;
  vramModels?: number;
  planningHorizonS?: number;
  sessionCopies?: boolean;
  /** The fleet file's `latency_hours` (the bench passes the peak window). */
  latencyHours?: string;
}

/** Peak p95 of jobs outside the peak window, by scenario report name (filled by `only`). */
const offPeakP95 = new WeakMap<ScenarioReport, number>();

function only(name: string, o: Only): ScenarioReport {
  const tiers = weekTiers(o.vramModels ?? 16);
  const jobs = syntheticWorkload({ days: 7, seed: o.seed, dau: 2000, models: 80 });
  const input = {
    jobs,
    startAt: SYNTHETIC_START,
    endAt: SYNTHETIC_START + 7 * 86_400_000,
    seed: o.seed,
    tiers,
  };
  const pool = {
    ...DEFAULT_AUTOSCALER_POOL,
    coldStartMs: expectedColdStartS(tiers, true) * 1000,
    planningHorizonS: o.planningHorizonS ?? null,
    ...(o.sessionCopies === undefined ? {} : { sessionCopies: o.sessionCopies }),
    latencyHours: o.latencyHours === undefined ? null : parsePeak(o.latencyHours),
  };
  const scenario = standardScenarios(pool, { withModels: true }).find((s) => s.name === name);
  if (scenario === undefined) throw new Error(`no scenario ${name}`);
  const peak = parsePeak(DEFAULT_PEAK);
  const out = simulate(input, scenario);
  const report = scenarioReport(input, scenario, out, peak);
  const off = jobs.flatMap((j, i) => (scheduleMatches(peak, j.at) ? [] : [out.waitS[i] ?? 0]));
  offPeakP95.set(report, percentile(Float64Array.from(off).sort(), 95));
  return report;
}

function row(r: ScenarioReport | undefined): string {
  if (r === undefined) return 'n/a';
  return (
    `peak p95 ${r.peakWait.p95.toFixed(1).padStart(5)} s, ${r.lowerBoundRatio.toFixed(2)}× floor, ` +
    `${String(r.modelFetches).padStart(5)} fetches, ${String(r.modelLoads).padStart(5)} loads, ` +
    `${String(r.coldStarts).padStart(4)} cold starts, max ${r.maxWorkers} workers, $${r.cost.toFixed(0)}` +
    (offPeakP95.has(r) ? `, off-peak p95 ${offPeakP95.get(r)!.toFixed(1)} s` : '')
  );
}

function goal(scenarios: readonly ScenarioReport[], autoscaler?: ScenarioReport): string {
  const mine = autoscaler ?? scenarios.find((s) => s.name === 'arrakis autoscaler');
  if (mine === undefined) return 'n/a';
  const others = scenarios.filter(
    (s) => s.name !== 'arrakis autoscaler' && s.name !== 'seed fixed knobs' && s.name !== 'always-on 5',
  );
  const fewer = others.every((s) => mine.modelFetches < s.modelFetches);
  return (
    `goal ≤ 10 s: ${mine.peakWait.p95 <= 10 ? 'met' : `missed by ${(mine.peakWait.p95 - 10).toFixed(1)} s`}; ` +
    `≤ 2.0×: ${mine.lowerBoundRatio <= 2 ? 'met' : `missed by ${(mine.lowerBoundRatio - 2).toFixed(2)}×`}; ` +
    `fewer fetches than every baseline: ${fewer ? 'yes' : 'no'}`
  );
}

print('## The week, all scenarios (seed 1)');
const t0 = performance.now();
const main = await runSimulate({ ...base(1), svg: join(dir, 'chart.svg') }, print);
print(
  `(all six scenarios in ${((performance.now() - t0) / 1000).toFixed(1)} s; chart ${join(dir, 'chart.svg')})`,
);
print(goal(main.scenarios));
const copies = only('arrakis autoscaler', { seed: 1, sessionCopies: true });
print(`with session copies  ${row(copies)}`);
print(`                     ${goal(main.scenarios, copies)}`);

const HOURS = DEFAULT_PEAK;
print(`\n## latency_hours "${HOURS}" (no spares off hours) + session copies, seed 1`);
for (const h of [undefined, 38]) {
  const r = only('arrakis autoscaler', {
    seed: 1,
    sessionCopies: true,
    latencyHours: HOURS,
    planningHorizonS: h,
  });
  print(`horizon ${h === undefined ? 'default' : `${h} s`.padStart(7)}  ${row(r)}`);
  print(`                 ${goal(main.scenarios, r)}`);
}
for (const name of ['arrakis autoscaler', 'modal reactive 60s']) {
  print(`without latency_hours: ${name.padEnd(20)} ${row(only(name, { seed: 1 }))}`);
}

print('\n## The naive fleet: --vram-models 1 --disk-cache-models 0');
const naive = await runSimulate({ ...base(1), vramModels: 1, diskCacheModels: 0 }, quiet);
for (const s of naive.scenarios.slice(0, 5)) print(`${s.name.padEnd(20)} ${row(s)}`);

print('\n## --vram-models 1 / 4 / 16 (32 files on disk)');
for (const vram of [1, 4, 16]) {
  const r = vram === 16 ? main : await runSimulate({ ...base(1), vramModels: vram }, quiet);
  for (const name of ['arrakis autoscaler', 'modal reactive 60s']) {
    print(
      `vram ${String(vram).padStart(2)}  ${name.padEnd(20)} ${row(r.scenarios.find((s) => s.name === name))}`,
    );
  }
  print(`         ${goal(r.scenarios)}`);
  const c =
    vram === 16 ? copies : only('arrakis autoscaler', { seed: 1, vramModels: vram, sessionCopies: true });
  print(`vram ${String(vram).padStart(2)}  ${'+ session copies'.padEnd(20)} ${row(c)}`);
  print(`         ${goal(r.scenarios, c)}`);
  const lh = only('arrakis autoscaler', {
    seed: 1,
    vramModels: vram,
    sessionCopies: true,
    latencyHours: HOURS,
    planningHorizonS: 38,
  });
  print(`vram ${String(vram).padStart(2)}  ${'+ latency_hours, 38 s'.padEnd(20)} ${row(lh)}`);
  print(`         ${goal(r.scenarios, lh)}`);
}

if (!quick) {
  print('\n## Frontier: the autoscaler over its planning horizon (fleet file planning_horizon_s)');
  for (const sessionCopies of [false, true]) {
    for (const h of [25, 30, 35, 40, 44, 50, 55]) {
      const r = only('arrakis autoscaler', { seed: 1, planningHorizonS: h, sessionCopies });
      print(`horizon ${String(h).padStart(2)} s${sessionCopies ? ' + copies' : '         '}  ${row(r)}`);
    }
  }
  print(`\n## Frontier with latency_hours "${HOURS}" + session copies (seed 1)`);
  for (const h of [30, 34, 38, 42, 46, 50]) {
    const r = only('arrakis autoscaler', {
      seed: 1,
      planningHorizonS: h,
      sessionCopies: true,
      latencyHours: HOURS,
    });
    print(`horizon ${String(h).padStart(2)} s  ${row(r)}`);
  }
  print('\n## Seeds 1-3 (default horizon)');
  for (const seed of [1, 2, 3]) {
    const r = seed === 1 ? main : await runSimulate(base(seed), quiet);
    for (const name of ['arrakis autoscaler', 'modal reactive 60s', 'modal reactive 300s', 'peak profile']) {
      print(`seed ${seed}  ${name.padEnd(20)} ${row(r.scenarios.find((s) => s.name === name))}`);
    }
    const c = seed === 1 ? copies : only('arrakis autoscaler', { seed, sessionCopies: true });
    print(`seed ${seed}  ${'+ session copies'.padEnd(20)} ${row(c)}`);
    print(`        ${goal(r.scenarios)}\n        copies: ${goal(r.scenarios, c)}`);
    for (const h of [undefined, 38]) {
      const l = only('arrakis autoscaler', {
        seed,
        sessionCopies: true,
        latencyHours: HOURS,
        planningHorizonS: h,
      });
      print(`seed ${seed}  ${`+ latency_hours ${h ?? 'dflt'}`.padEnd(20)} ${row(l)}`);
      print(`        ${goal(r.scenarios, l)}`);
    }
  }
}
