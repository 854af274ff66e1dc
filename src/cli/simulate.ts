/** `arrakis simulate`: prices fleet configurations on a trace or a synthetic workload, before paying for them. */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadFleetFile, type PoolModelSettings } from '../fleet/fleet-file.js';
import type { Schedule } from '../fleet/schedule.js';
import type { Scenario, SimInput, SimPool } from '../fleet/simulator/engine.js';
import {
  DEFAULT_TIERS,
  expectedColdStartS,
  parseLoadSamples,
  type ModelTiers,
} from '../fleet/simulator/model-tiers.js';
import { clairvoyantScenario } from '../fleet/simulator/clairvoyant.js';
import { parsePeak } from '../fleet/simulator/peak-window.js';
import { formatTable } from '../fleet/simulator/report.js';
import { reportJson, runScenarios, windowFor, type SimulationReport } from '../fleet/simulator/run.js';
import {
  DEFAULT_AUTOSCALER_POOL,
  DEFAULT_PEAK,
  simPoolFrom,
  standardScenarios,
} from '../fleet/simulator/scenarios.js';
import { searchHorizon, type HorizonSearch } from '../fleet/simulator/horizon-search.js';
import { renderSvg } from '../fleet/simulator/svg-chart.js';
import { parseTrace } from '../fleet/simulator/trace-csv.js';
import { SYNTHETIC_START, syntheticWorkload, type SimJob } from '../fleet/simulator/workload.js';

const seconds = z.coerce.number().min(0).max(3600);
const count = z.coerce.number().int().min(0).max(100_000);

export const SimulateOptions = z.object({
  trace: z
    .string()
    .min(1)
    .optional()
    .describe('trace CSV with a header: timestamp,duration_s[,user][,model]'),
  skipInvalid: z.boolean().default(false).describe('skip (and count) trace rows with a zero or bad value'),
  days: z.coerce.number().int().min(1).max(90).default(7).describe('days of synthetic workload'),
  dau: z.coerce.number().int().min(1).max(1_000_000).optional().describe('daily active users (synthetic)'),
  models: count.default(0).describe('base models of the synthetic workload, Zipf-popular; 0 = none'),
  seed: z.coerce.number().int().min(0).default(1).describe('seed of the workload, boots and model loads'),
  fleet: z.string().min(1).optional().describe('fleet file whose pool the autoscaler runs'),
  pool: z.string().min(1).optional().describe('pool of the fleet file (default: the first)'),
  bootS: seconds.optional().describe('boot to ready before any model (default: the measured curve)'),
  loadSamples: z.string().min(1).optional().describe('CSV (header "seconds") of model fetch times'),
  diskLoadS: seconds.optional().describe('load from the worker’s own disk'),
  diskCacheModels: count
    .optional()
    .describe('model files a worker’s disk keeps (LRU); 0 = every load fetches'),
  vramModels: count.min(1).optional().describe('models resident per worker (LRU)'),
  affinityMaxDelayS: seconds.default(10).describe('affinity bound of the model-aware claim order'),
  planningHorizonS: seconds.optional().describe('the autoscaler’s forecast horizon'),
  sessionCopies: z.boolean().optional().describe('copy returning users’ models onto idle workers’ disks'),
  prefetchCover: z.coerce
    .number()
    .min(0)
    .max(1000)
    .optional()
    .describe('disk copies per live worker and unit job share the prefetches aim for; 0 = none'),
  latencyHours: z
    .string()
    .min(1)
    .optional()
    .describe('hours the wait target applies to; outside them the autoscaler keeps no spares'),
  peak: z.string().min(1).default(DEFAULT_PEAK).describe('the peak window of every "peak" figure'),
  clairvoyant: z
    .boolean()
    .default(false)
    .describe('add the clairvoyant reference row (knows the future; not a runnable policy)'),
  out: z.string().min(1).optional().describe('write the JSON report here'),
  svg: z.string().min(1).optional().describe('write the SVG chart here'),
});
export type SimulateOptions = z.input<typeof SimulateOptions>;
type Options = z.output<typeof SimulateOptions>;

async function fleetPool(opts: Options): Promise<{ pool: SimPool; models: PoolModelSettings | null }> {
  if (opts.fleet === undefined) return { pool: DEFAULT_AUTOSCALER_POOL, models: null };
  const fleet = await loadFleetFile(opts.fleet);
  const pool = opts.pool === undefined ? fleet.pools[0] : fleet.pools.find((p) => p.name === opts.pool);
  if (pool === undefined) {
    throw new Error(
      `--pool ${opts.pool ?? ''} is not in ${opts.fleet} (pools: ${fleet.pools.map((p) => p.name).join(', ')})`,
    );
  }
  return { pool: simPoolFrom(pool), models: pool.models ?? null };
}

/** Model costs by tier: the flags win over the fleet file, which wins over the defaults. */
async function tiersFor(opts: Options, pool: PoolModelSettings | null): Promise<ModelTiers> {
  const samples =
    opts.loadSamples === undefined ? null : parseLoadSamples(await readFile(opts.loadSamples, 'utf8'));
  return {
    bootS: opts.bootS ?? pool?.bootS ?? DEFAULT_TIERS.bootS,
    fetchS: samples?.sample ?? DEFAULT_TIERS.fetchS,
    fetchMedianS: samples?.median ?? DEFAULT_TIERS.fetchMedianS,
    diskLoadS: opts.diskLoadS ?? pool?.diskLoadS ?? DEFAULT_TIERS.diskLoadS,
    diskCacheModels: opts.diskCacheModels ?? pool?.diskCacheModels ?? DEFAULT_TIERS.diskCacheModels,
    vramModels: opts.vramModels ?? pool?.vramModels ?? DEFAULT_TIERS.vramModels,
  };
}

interface Workload {
  jobs: SimJob[];
  startAt: number;
  endAt: number;
  source: string;
  skipped: number;
}

async function workload(opts: Options): Promise<Workload> {
  if (opts.trace !== undefined) {
    const trace = parseTrace(await readFile(opts.trace, 'utf8'), { skipInvalid: opts.skipInvalid });
    const skipped =
      trace.skipped === 0
        ? ''
        : `, ${trace.skipped} invalid rows skipped (lines ${trace.skippedLines.join(', ')}${trace.skipped > trace.skippedLines.length ? ', …' : ''})`;
    return {
      jobs: trace.jobs,
      ...windowFor(trace.jobs),
      source: `trace ${opts.trace}${skipped}`,
      skipped: trace.skipped,
    };
  }
  const dau = opts.dau ?? 2000;
  const jobs = syntheticWorkload({ days: opts.days, seed: opts.seed, dau, models: opts.models });
  const models = opts.models > 0 ? `, ${opts.models} Zipf-popular models` : '';
  return {
    jobs,
    startAt: SYNTHETIC_START,
    endAt: SYNTHETIC_START + opts.days * 86_400_000,
    source: `synthetic ${dau.toLocaleString('en')}-DAU service, ${opts.days} days${models}, seed ${opts.seed}`,
    skipped: 0,
  };
}

/** Runs the simulation the options describe, prints the table and writes the report files. */
export async function runSimulate(
  raw: SimulateOptions,
  print: (line: string) => void,
): Promise<SimulationReport> {
  const opts = SimulateOptions.parse(raw);
  const peak = parsePeak(opts.peak);
  const fleet = await fleetPool(opts);
  const tiers = await tiersFor(opts, fleet.models);
  const w = await workload(opts);
  const withModels = w.jobs.some((j) => j.model !== null);
  const pool: SimPool = {
    ...fleet.pool,
    // With a boot time given, the autoscaler plans with the cold start the tiers imply.
    coldStartMs: tiers.bootS === null ? fleet.pool.coldStartMs : expectedColdStartS(tiers, withModels) * 1000,
    planningHorizonS: opts.planningHorizonS ?? fleet.pool.planningHorizonS ?? null,
    ...(opts.sessionCopies === undefined ? {} : { sessionCopies: opts.sessionCopies }),
    ...(opts.prefetchCover === undefined ? {} : { prefetchCover: opts.prefetchCover }),
    latencyHours:
      opts.latencyHours === undefined
        ? (fleet.pool.latencyHours ?? null)
        : parsePeak(opts.latencyHours, '--latency-hours'),
  };
  const scenarios = standardScenarios(pool, {
    peak,
    withModels,
    affinityMaxDelayMs: opts.affinityMaxDelayS * 1000,
  });
  const input = { jobs: w.jobs, startAt: w.startAt, endAt: w.endAt, seed: opts.seed, tiers };
  // A bound, not a policy: it is built from the whole workload in advance (last row, labelled as such).
  const all = opts.clairvoyant ? [...scenarios, clairvoyantScenario(w.jobs, tiers, pool)] : scenarios;
  const report = runScenarios(input, all, w.source, peak, w.skipped);
  printReport(report, tiers, withModels, print);
  const target = fleet.models?.targetP95WaitS ?? null;
  const search =
    target === null || opts.planningHorizonS !== undefined
      ? null
      : tune(input, scenarios, peak, target, print);
  if (opts.out !== undefined) {
    const json = {
      ...reportJson(report),
      ...(search === null ? {} : { horizon_search: searchJson(search) }),
    };
    await writeFile(opts.out, `${JSON.stringify(json, null, 2)}\n`);
    print(`report: ${opts.out}`);
  }
  if (opts.svg !== undefined) {
    await writeFile(opts.svg, renderSvg(report.scenarios));
    print(`chart: ${opts.svg}`);
  }
  return report;
}

/** With the fleet file's `target_p95_wait_s`, searches the planning horizon that meets it most cheaply. */
function tune(
  input: SimInput,
  scenarios: readonly Scenario[],
  peak: Schedule,
  target: number,
  print: (line: string) => void,
): HorizonSearch | null {
  const autoscaler = scenarios[0];
  if (autoscaler === undefined) return null;
  const search = searchHorizon(input, autoscaler, peak, target);
  print('');
  print(`target_p95_wait_s ${target}: the autoscaler at each planning horizon`);
  for (const p of search.points) {
    print(
      `  planning_horizon_s ${String(p.horizonS).padStart(4)}: peak p95 ${p.peakP95WaitS.toFixed(1)} s, ${p.costRatio.toFixed(2)}× floor`,
    );
  }
  print(
    search.recommendedS === null
      ? `  no horizon tried meets ${target} s; the longest is the closest`
      : `  set planning_horizon_s: ${search.recommendedS} (the cheapest that meets ${target} s)`,
  );
  return search;
}

function searchJson(s: HorizonSearch) {
  return {
    target_p95_wait_s: s.targetP95WaitS,
    recommended_planning_horizon_s: s.recommendedS,
    points: s.points.map((p) => ({
      planning_horizon_s: p.horizonS,
      peak_p95_wait_s: Math.round(p.peakP95WaitS * 100) / 100,
      cost_ratio: Math.round(p.costRatio * 100) / 100,
    })),
  };
}

function printReport(
  report: SimulationReport,
  tiers: ModelTiers,
  withModels: boolean,
  print: (line: string) => void,
): void {
  const wl = report.workload;
  print(
    `${wl.source}: ${wl.jobs} jobs, floor ${wl.lowerBoundGpuSeconds} GPU-s (sum of job durations), ` +
      `${wl.peak} (${wl.peakHours} hours); simulated in ${report.elapsedMs} ms`,
  );
  if (withModels) {
    print(
      `model tiers: boot ${tiers.bootS ?? 'measured curve'} s, fetch median ${tiers.fetchMedianS} s, ` +
        `disk load ${tiers.diskLoadS} s, ${tiers.diskCacheModels} files on disk, ${tiers.vramModels} resident per worker`,
    );
  }
  print('');
  print(formatTable(report.scenarios));
  print('');
  for (const s of report.scenarios) print(`${s.name}: ${s.description}`);
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('simulate the autoscaler and baselines on a trace or a synthetic workload and price them')
    .option(
      '--trace <file>',
      'trace CSV with a header: timestamp,duration_s[,user][,model]; default: synthetic',
    )
    .option('--skip-invalid', 'skip trace rows with a zero or bad value (counted in the report)')
    .option('--days <n>', 'days of synthetic workload', '7')
    .option('--dau <n>', 'daily active users of the synthetic workload', '2000')
    .option('--models <n>', 'base models of the synthetic workload (Zipf popularity); 0 = none', '0')
    .option('--seed <n>', 'random seed', '1')
    .option('--fleet <file>', 'fleet file: the autoscaler runs its pool settings')
    .option('--pool <name>', 'pool of the fleet file (default: the first)')
    .option('--boot-s <s>', 'worker boot before any model load (default: the measured cold-start curve)')
    .option('--load-samples <file>', 'CSV with a header "seconds": model fetch times, drawn with the seed')
    .option('--disk-load-s <s>', 'load of a model file from the worker’s own disk (default 1.9)')
    .option(
      '--disk-cache-models <k>',
      'model files a worker’s disk keeps, LRU (default 0: every load fetches)',
    )
    .option('--vram-models <m>', 'models a worker keeps resident, LRU (default 1)')
    .option('--affinity-max-delay-s <s>', 'longest extra wait the model-aware claim order may cause', '10')
    .option('--planning-horizon-s <s>', 'the autoscaler’s forecast horizon (default 1.17 × cold start)')
    .option('--session-copies', 'the model plan copies returning users’ models onto idle workers’ disks')
    .option(
      '--prefetch-cover <n>',
      'disk copies of a model the prefetches aim for, per live worker and unit job share (default 8; 0 = none)',
    )
    .option(
      '--latency-hours <window>',
      'hours the wait target applies to, like --peak; outside them the autoscaler keeps no spares',
    )
    .option(
      '--peak <window>',
      'peak window of every "peak" figure and of the peak-profile baseline',
      DEFAULT_PEAK,
    )
    .option(
      '--clairvoyant',
      'add the clairvoyant reference row: knows every job in advance (a bound, not a policy)',
    )
    .option('--out <file>', 'write the JSON report here')
    .option('--svg <file>', 'write an SVG chart of every scenario here')
    .action(async (raw: unknown) => {
      const parsed = SimulateOptions.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const flag = String(issue?.path[0] ?? 'option').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
        throw new Error(`invalid --${flag}: ${issue?.message ?? 'bad value'}`);
      }
      await runSimulate(parsed.data, (line) => process.stdout.write(`${line}\n`));
    });
}
