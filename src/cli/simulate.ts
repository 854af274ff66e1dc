/** `arrakis simulate`: prices fleet configurations on a trace or a synthetic workload, before paying for them. */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadFleetFile } from '../fleet/fleet-file.js';
import { formatTable } from '../fleet/simulator/report.js';
import { runScenarios, windowFor, type SimulationReport } from '../fleet/simulator/run.js';
import { DEFAULT_AUTOSCALER_POOL, simPoolFrom, standardScenarios } from '../fleet/simulator/scenarios.js';
import type { SimPool } from '../fleet/simulator/engine.js';
import { renderSvg } from '../fleet/simulator/svg-chart.js';
import { parseTrace } from '../fleet/simulator/trace-csv.js';
import { SYNTHETIC_START, syntheticWorkload, type SimJob } from '../fleet/simulator/workload.js';

const Options = z.object({
  trace: z.string().min(1).optional().describe('trace CSV: timestamp, duration_s[, user]'),
  days: z.coerce.number().int().min(1).max(90).describe('days of synthetic workload (ignored with --trace)'),
  seed: z.coerce.number().int().min(0).describe('seed of the synthetic workload and the cold starts'),
  fleet: z.string().min(1).optional().describe('fleet file whose pool the autoscaler runs'),
  pool: z.string().min(1).optional().describe('pool of the fleet file (default: the first)'),
  out: z.string().min(1).optional().describe('write the JSON report here'),
  svg: z.string().min(1).optional().describe('write the SVG chart here'),
});
type Options = z.output<typeof Options>;

async function autoscalerPool(opts: Options): Promise<SimPool> {
  if (opts.fleet === undefined) return DEFAULT_AUTOSCALER_POOL;
  const fleet = await loadFleetFile(opts.fleet);
  const pool = opts.pool === undefined ? fleet.pools[0] : fleet.pools.find((p) => p.name === opts.pool);
  if (pool === undefined) {
    throw new Error(
      `--pool ${opts.pool ?? ''} is not in ${opts.fleet} (pools: ${fleet.pools.map((p) => p.name).join(', ')})`,
    );
  }
  return simPoolFrom(pool);
}

async function workload(
  opts: Options,
): Promise<{ jobs: SimJob[]; startAt: number; endAt: number; source: string }> {
  if (opts.trace !== undefined) {
    const jobs = parseTrace(await readFile(opts.trace, 'utf8'));
    return { jobs, ...windowFor(jobs), source: `trace ${opts.trace}` };
  }
  const jobs = syntheticWorkload({ days: opts.days, seed: opts.seed });
  return {
    jobs,
    startAt: SYNTHETIC_START,
    endAt: SYNTHETIC_START + opts.days * 86_400_000,
    source: `synthetic 2,000-DAU service, ${opts.days} days, seed ${opts.seed}`,
  };
}

/** Runs the simulation the options describe and writes the report files. */
export async function runSimulate(opts: Options, print: (line: string) => void): Promise<SimulationReport> {
  const pool = await autoscalerPool(opts);
  const w = await workload(opts);
  const report = runScenarios(
    { jobs: w.jobs, startAt: w.startAt, endAt: w.endAt, seed: opts.seed },
    standardScenarios(pool),
    w.source,
  );
  print(
    `${w.source}: ${report.workload.jobs} jobs, lower bound ${report.workload.lowerBoundGpuSeconds} GPU-s, ` +
      `${report.workload.peakHours} peak hours (≥ 2× the mean hour); simulated in ${report.elapsedMs} ms`,
  );
  print('');
  print(formatTable(report.scenarios));
  print('');
  for (const s of report.scenarios) print(`${s.name}: ${s.description}`);
  if (opts.out !== undefined) {
    await writeFile(opts.out, `${JSON.stringify(report, null, 2)}\n`);
    print(`report: ${opts.out}`);
  }
  if (opts.svg !== undefined) {
    await writeFile(
      opts.svg,
      renderSvg(
        report.scenarios.filter((s) => s.name === 'arrakis autoscaler' || s.name === 'modal reactive 60s'),
      ),
    );
    print(`chart: ${opts.svg}`);
  }
  return report;
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('simulate the autoscaler and baselines on a trace or a synthetic workload and price them')
    .option('--trace <file>', 'trace CSV (timestamp, duration_s[, user]); default: synthetic workload')
    .option('--days <n>', 'days of synthetic workload', '7')
    .option('--seed <n>', 'random seed', '1')
    .option('--fleet <file>', 'fleet file: the autoscaler runs its pool settings')
    .option('--pool <name>', 'pool of the fleet file (default: the first)')
    .option('--out <file>', 'write the JSON report here')
    .option('--svg <file>', 'write an SVG chart (queue wait and workers over time) here')
    .action(async (raw: unknown) => {
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`invalid --${String(issue?.path[0] ?? 'option')}: ${issue?.message ?? 'bad value'}`);
      }
      await runSimulate(parsed.data, (line) => process.stdout.write(`${line}\n`));
    });
}
