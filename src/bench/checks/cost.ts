/**
 * cost: what the run used, from the usage API: the account's finished jobs, GPU (run) seconds and
 * attributed cost per pool since the battery started, beside the sum of the run times the jobs reported.
 * The cost is null when the pool has no price (`price_per_gpu_second` in the fleet file).
 */
import type { BenchContext } from '../context.js';
import { count, seconds } from '../types.js';
import { verdict, type Verdict } from './verdict.js';

export async function costCheck(ctx: BenchContext): Promise<Verdict> {
  const ran = ctx.records.filter((r) => r.run_time_s !== null);
  if (ran.length === 0) return verdict('not_run', 'no job of this run reached a worker');
  // The usage API counts by finish time; a minute's margin covers clock skew between here and the server.
  const since = new Date(ctx.startedAt.getTime() - 60_000);
  const usage = await ctx.admin.accounts.usage(ctx.main.account.id, since);
  const reported = ran.reduce((n, r) => n + (r.run_time_s ?? 0), 0);
  const figures = {
    jobs: count('finished jobs (usage API)', usage.jobs),
    gpu_seconds: seconds('GPU seconds (usage API)', usage.run_seconds),
    job_run_seconds: seconds('run seconds the jobs report', reported),
    cost: {
      label: 'attributed cost',
      value: usage.cost === null ? null : Math.round(usage.cost * 1e6) / 1e6,
      unit: 'price',
    },
  };
  const details = usage.pools.map(
    (p) =>
      `pool ${p.pool}: ${p.jobs} jobs, ${p.run_seconds.toFixed(2)} GPU s, cost ${p.cost === null ? 'not priced' : p.cost.toFixed(6)}`,
  );
  if (usage.jobs === 0 || usage.run_seconds <= 0) {
    return verdict(
      'fail',
      `the usage API reports ${usage.jobs} jobs and ${usage.run_seconds} GPU s for this run`,
      figures,
      details,
    );
  }
  const cost = usage.cost === null ? 'no price set' : `cost ${usage.cost.toFixed(6)}`;
  return verdict(
    'pass',
    `${usage.jobs} jobs, ${usage.run_seconds.toFixed(2)} GPU s, ${cost}`,
    figures,
    details,
  );
}
