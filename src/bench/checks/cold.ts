/**
 * cold: one job on a pool with no warm worker, so it pays for a worker start. Waits (up to --cold-wait) for
 * the pool to scale to zero; a pool with min > 0 or no autoscaled pool at all cannot be measured cold.
 * Records queue wait, run and total time and the fleet's scaling decisions meanwhile.
 */
import type { BenchContext } from '../context.js';
import type { FleetDecision, FleetPool } from '../fleet-api.js';
import { outcome, runJob } from '../job-runner.js';
import { count, flag, seconds } from '../types.js';
import { fmt, sleep, verdict, type Verdict } from './verdict.js';

/** Polls the pool until it has no worker, or the wait runs out; returns the pool as last seen. */
async function waitForZero(ctx: BenchContext, pool: FleetPool): Promise<FleetPool | null> {
  const deadline = Date.now() + ctx.options.coldWaitS * 1000;
  let current: FleetPool | null = pool;
  while (current !== null && current.workers.length > 0) {
    if (Date.now() > deadline) return current;
    ctx.progress.update(
      `waiting for pool ${pool.name} to scale to zero (${current.workers.length} worker(s))`,
    );
    await sleep(1000);
    current = await ctx.targetPool();
  }
  return current;
}

function describeDecision(d: FleetDecision): string {
  return `${d.at} pool ${d.pool}: ${d.current} → ${d.target} worker(s)${d.reason ? ` (${d.reason})` : ''}`;
}

export async function coldCheck(ctx: BenchContext): Promise<Verdict> {
  const pool = await ctx.targetPool();
  if (pool === null) {
    return verdict('not_run', 'no autoscaled pool (serve --fleet): static workers are always warm');
  }
  if (pool.min > 0) {
    return verdict(
      'not_run',
      `pool ${pool.name} keeps min ${pool.min} warm worker(s), so no job starts cold`,
    );
  }
  const idle = await waitForZero(ctx, pool);
  if (idle === null || idle.workers.length > 0) {
    return verdict(
      'not_run',
      `pool ${pool.name} still had a worker after --cold-wait ${ctx.options.coldWaitS} s`,
    );
  }
  const before = new Set((await ctx.fleet.decisions(pool.name)).map((d) => `${d.at}|${d.target}`));
  ctx.progress.update(`job submitted to an empty pool ${pool.name}`);
  const f = await runJob(ctx, 'cold', 'cold', ctx.jobs.short());
  const decisions = (await ctx.fleet.decisions(pool.name))
    .filter((d) => !before.has(`${d.at}|${d.target}`))
    .reverse();
  const started = decisions.some((d) => d.target > d.current);
  const figures = {
    queue_wait: seconds('queue wait', f.job.queue_wait_s),
    run: seconds('run', f.job.run_time_s),
    total: seconds('total', f.job.total_time_s),
    cold_start: flag('a worker was started for it', started),
    decisions: count('scaling decisions meanwhile', decisions.length),
  };
  const details = decisions.map(describeDecision);
  if (f.job.status !== 'completed') {
    return verdict('fail', `the cold job ended ${outcome(f)}`, figures, details);
  }
  const summary = `queue wait ${fmt(f.job.queue_wait_s)}, run ${fmt(f.job.run_time_s)}, total ${fmt(f.job.total_time_s)}`;
  if (!started) {
    return verdict('fail', `${summary}, but the fleet recorded no worker start`, figures, details);
  }
  return verdict('pass', `${summary} (cold start)`, figures, details);
}
