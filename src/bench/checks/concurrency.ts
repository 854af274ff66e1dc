/**
 * concurrency: C jobs at once, each from a different end user (default 3, or the pool's max when larger):
 * all must complete. Reports the makespan, how many ran at the same instant (from the jobs' own start and
 * end times) and the most workers seen busy at once (sampled from the admin API while they ran).
 */
import type { BenchContext } from '../context.js';
import { outcome, runJob, type Followed } from '../job-runner.js';
import { peakOverlap } from '../stats.js';
import { count, seconds } from '../types.js';
import { timingFigures } from './warm.js';
import { fmt, sleep, verdict, type Verdict } from './verdict.js';

/** Samples the busy workers every 250 ms until `stop` is aborted; returns the peak. */
async function peakBusy(ctx: BenchContext, stop: AbortSignal): Promise<number> {
  let peak = 0;
  while (!stop.aborted) {
    try {
      const workers = await ctx.admin.workers.list();
      const busy = workers.filter(
        (w) => w.status === 'busy' && (ctx.options.pool === undefined || w.pool === ctx.options.pool),
      );
      peak = Math.max(peak, busy.length);
    } catch {
      // A missed sample only lowers the figure; the check's verdict does not rest on it.
    }
    await sleep(250);
  }
  return peak;
}

async function parallelism(ctx: BenchContext): Promise<number> {
  if (ctx.options.concurrency !== null) return ctx.options.concurrency;
  const pool = await ctx.targetPool();
  return Math.max(3, Math.min(pool?.max ?? 0, 16));
}

export async function concurrencyCheck(ctx: BenchContext): Promise<Verdict> {
  const c = await parallelism(ctx);
  ctx.progress.update(`${c} jobs from ${c} users at once`);
  const stop = new AbortController();
  const sampler = peakBusy(ctx, stop.signal);
  let done: Followed[];
  try {
    done = await Promise.all(
      Array.from({ length: c }, (_, i) => runJob(ctx, 'concurrency', `c${i + 1}`, ctx.jobs.short())),
    );
  } finally {
    stop.abort();
  }
  const busy = await sampler;
  const at = (iso: string | null): number => (iso === null ? NaN : Date.parse(iso));
  const created = Math.min(...done.map((f) => at(f.job.created_at)));
  const finished = Math.max(...done.map((f) => at(f.job.finished_at)));
  const makespan = Number.isFinite(finished - created) ? (finished - created) / 1000 : null;
  const overlap = peakOverlap(
    done
      .filter((f) => f.job.started_at !== null && f.job.finished_at !== null)
      .map((f) => [at(f.job.started_at), at(f.job.finished_at)] as const),
  );
  const failed = done.filter((f) => f.job.status !== 'completed');
  const figures = {
    jobs: count('parallel jobs', c),
    completed: count('completed', c - failed.length),
    makespan: seconds('makespan', makespan),
    peak_running: count('most jobs running at once', overlap),
    // Jobs shorter than the sampling period may run unseen: then the figure is unknown, not zero.
    peak_busy_workers: {
      label: 'most workers busy at once (sampled)',
      value: busy > 0 ? busy : null,
      unit: 'count',
    },
    ...timingFigures(done),
  };
  const details = failed.map((f) => `${f.job.id} (${f.job.user_id}) ended ${outcome(f)}`);
  if (failed.length > 0) {
    return verdict('fail', `${failed.length} of ${c} parallel jobs did not complete`, figures, details);
  }
  return verdict(
    'pass',
    `${c} jobs from ${c} users: makespan ${fmt(makespan)}, up to ${overlap} running at once` +
      (busy > 0 ? ` on ${busy} worker(s)` : ''),
    figures,
  );
}
