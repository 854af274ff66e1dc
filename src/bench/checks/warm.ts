/**
 * warm: N jobs one after another on a warm pool. Fails when a job does not complete, when a worker gave a
 * job back to the queue (it lost its ComfyUI or died), or when a job waited longer than --warm-max-wait
 * (a warm pool starts a job in well under a second; a long wait means it met a cold start or a backlog).
 */
import type { BenchContext } from '../context.js';
import { outcome, runJob, type Followed } from '../job-runner.js';
import { percentile } from '../stats.js';
import { count, seconds, type Figure } from '../types.js';
import { fmt, verdict, type Verdict } from './verdict.js';

function spread(name: string, label: string, values: number[]): Record<string, Figure> {
  return {
    [`${name}_p50`]: seconds(`${label} p50`, percentile(values, 50)),
    [`${name}_p95`]: seconds(`${label} p95`, percentile(values, 95)),
  };
}

/** p50/p95 of queue wait, run and total over the jobs that started. */
export function timingFigures(jobs: Followed[]): Record<string, Figure> {
  const pick = (get: (f: Followed) => number | null): number[] =>
    jobs.map(get).filter((v): v is number => v !== null);
  return {
    ...spread(
      'queue_wait',
      'queue wait',
      pick((f) => f.job.queue_wait_s),
    ),
    ...spread(
      'run',
      'run',
      pick((f) => f.job.run_time_s),
    ),
    ...spread(
      'total',
      'total',
      pick((f) => f.job.total_time_s),
    ),
  };
}

export async function warmCheck(ctx: BenchContext): Promise<Verdict> {
  const n = ctx.options.warmJobs;
  const done: Followed[] = [];
  const problems: string[] = [];
  // Sequential: after a failed job the rest would only wait out --job-timeout on a broken pool, so stop.
  for (let i = 0; i < n && problems.length === 0; i++) {
    ctx.progress.update(`job ${i + 1}/${n}`);
    const f = await runJob(ctx, 'warm', 'warm', ctx.jobs.short());
    done.push(f);
    if (f.requeues > 0) {
      problems.push(
        `job ${i + 1} (${f.job.id}) went back to the queue ${f.requeues} time(s): a worker was lost`,
      );
    }
    // After the requeue (the cause), so the summary names the lost worker rather than the timeout.
    if (f.job.status !== 'completed') problems.push(`job ${i + 1} (${f.job.id}) ended ${outcome(f)}`);
    const wait = f.job.queue_wait_s;
    if (wait !== null && wait > ctx.options.warmMaxWaitS) {
      problems.push(
        `job ${i + 1} (${f.job.id}) waited ${fmt(wait)} in the queue (> --warm-max-wait ${ctx.options.warmMaxWaitS} s)`,
      );
    }
  }
  const figures = {
    jobs: count('jobs', done.length),
    completed: count('completed', done.filter((f) => f.job.status === 'completed').length),
    requeues: count(
      'requeues (lost workers)',
      done.reduce((a, f) => a + f.requeues, 0),
    ),
    ...timingFigures(done),
  };
  const of = (get: (f: Followed) => number | null): number[] =>
    done.map(get).filter((v): v is number => v !== null);
  const waits = of((f) => f.job.queue_wait_s);
  const totals = of((f) => f.job.total_time_s);
  const summary =
    `${done.length} jobs: queue wait p50 ${fmt(percentile(waits, 50))}, ` +
    `total p50 ${fmt(percentile(totals, 50))}, p95 ${fmt(percentile(totals, 95))}`;
  if (problems.length > 0) return verdict('fail', problems[0] ?? summary, figures, problems);
  return verdict('pass', summary, figures);
}
