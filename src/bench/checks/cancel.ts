/**
 * cancel: a job cancelled while queued (answer 200, never started) and one cancelled while running (answer
 * 202, then `cancelled`): the time each takes, and that no cancelled job has an output. The running job is
 * the long job (--long-workflow), caught once it reports `running`. To have a queued job, long jobs are
 * submitted (as other users) until one waits: each that a free worker takes keeps that worker busy.
 */
import { ArrakisError, type ArrakisClient, type Job } from '../../client/index.js';
import type { BenchContext } from '../context.js';
import { follow, outcome, record, type Followed } from '../job-runner.js';
import { count, seconds } from '../types.js';
import { fmt, verdict, type Verdict } from './verdict.js';

interface Caught {
  job: Job;
  seconds: number;
}

/** How many jobs can run at once on the target pool (its max, else the registered workers). */
async function capacity(ctx: BenchContext): Promise<number> {
  const pool = await ctx.targetPool();
  if (pool !== null) return pool.max;
  return (await ctx.admin.workers.list()).length;
}

/** Submits long jobs until one is still queued, and cancels that one; the others are left running. */
async function catchQueued(
  ctx: BenchContext,
  blockers: Array<{ client: ArrakisClient; job: Job }>,
): Promise<Caught | null> {
  const attempts = (await capacity(ctx)) + 3;
  for (let i = 0; i < attempts; i++) {
    const client = ctx.client(`cancel-q${i + 1}`);
    const job = await client.jobs.create(ctx.jobs.long());
    record(ctx, 'cancel', job);
    if ((await client.jobs.get(job.id)).status !== 'queued') {
      blockers.push({ client, job });
      continue;
    }
    const t0 = performance.now();
    const answer = await client.jobs.cancel(job.id);
    const elapsed = (performance.now() - t0) / 1000;
    record(ctx, 'cancel', answer, { cancelled: true });
    if (answer.status === 'cancelled') return { job: answer, seconds: elapsed };
    blockers.push({ client, job }); // a worker took it between the read and the cancel
  }
  return null;
}

/** Starts following `job` and resolves `running` once it has left the queue. */
function followUntilRunning(ctx: BenchContext, client: ArrakisClient, job: Job) {
  let reached: () => void = () => {};
  const running = new Promise<void>((resolve) => (reached = resolve));
  const followed = follow(ctx, 'cancel', client, job, { onStatus: (s) => s !== 'queued' && reached() });
  return { running, followed };
}

async function cancelAll(
  ctx: BenchContext,
  jobs: Array<{ client: ArrakisClient; job: Job }>,
): Promise<Followed[]> {
  return await Promise.all(
    jobs.map(async ({ client, job }) => {
      await client.jobs.cancel(job.id).catch(() => null); // 409 when it already ended: judged below
      record(ctx, 'cancel', job, { cancelled: true });
      return await follow(ctx, 'cancel', client, job);
    }),
  );
}

export async function cancelCheck(ctx: BenchContext): Promise<Verdict> {
  const client = ctx.client('cancel');
  let long: Job;
  try {
    long = await client.jobs.create(ctx.jobs.long());
  } catch (err) {
    if (err instanceof ArrakisError && err.status === 422 && ctx.jobs.longIsBuiltIn) {
      return verdict(
        'not_run',
        `the built-in long job needs comfy-lite's ArrakisDelay (${err.code}); give --long-workflow FILE`,
      );
    }
    throw err;
  }
  record(ctx, 'cancel', long);
  ctx.progress.update('waiting for the long job to run');
  const { running, followed } = followUntilRunning(ctx, client, long);
  await Promise.race([running, followed]);
  const state = (await client.jobs.get(long.id)).status;
  if (state === 'failed' && ctx.jobs.longIsBuiltIn) {
    // Admitted before any worker told the server its node types, then refused by the worker's ComfyUI.
    const f = await followed;
    return verdict('not_run', `the built-in long job failed (${outcome(f)}); give --long-workflow FILE`);
  }
  const blockers: Array<{ client: ArrakisClient; job: Job }> = [];
  ctx.progress.update('cancelling a queued job');
  const queued = state === 'running' ? await catchQueued(ctx, blockers) : null;
  ctx.progress.update('cancelling the running job');
  const t0 = Date.now();
  const answer = await client.jobs
    .cancel(long.id)
    .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  record(ctx, 'cancel', long, { cancelled: true });
  const ran = await followed;
  const others = await cancelAll(ctx, blockers);
  return judge(ran, answer, t0, queued, others);
}

function judge(
  ran: Followed,
  answer: Job | Error,
  t0: number,
  queued: Caught | null,
  others: Followed[],
): Verdict {
  const runningS = ran.doneAt === null ? null : (ran.doneAt - t0) / 1000;
  const cancelled = [ran, ...others].map((f) => f.job).concat(queued === null ? [] : [queued.job]);
  const withOutputs = cancelled.filter((j) => j.status === 'cancelled' && j.outputs.length > 0);
  const figures = {
    queued_cancel: seconds('cancel while queued: answer', queued?.seconds ?? null),
    running_cancel: seconds('cancel while running: to cancelled', runningS),
    cancelled: count('jobs cancelled', cancelled.filter((j) => j.status === 'cancelled').length),
    outputs_after_cancel: count(
      'outputs of cancelled jobs',
      withOutputs.reduce((n, j) => n + j.outputs.length, 0),
    ),
  };
  const problems: string[] = [];
  if (answer instanceof Error || !answer.cancel_requested) {
    problems.push(
      `the long job ${ran.job.id} was not running when cancelled (it ended ${outcome(ran)}); give a longer --long-workflow`,
    );
  } else if (ran.job.status !== 'cancelled') {
    problems.push(`the running job ${ran.job.id} ended ${outcome(ran)}, not cancelled`);
  }
  if (queued === null)
    problems.push('no submitted job stayed queued long enough to be cancelled while queued');
  else if (queued.job.started_at !== null) problems.push(`the queued job ${queued.job.id} had started`);
  for (const f of others)
    if (f.job.status !== 'cancelled') problems.push(`${f.job.id} ended ${outcome(f)}, not cancelled`);
  for (const j of withOutputs) problems.push(`the cancelled job ${j.id} has ${j.outputs.length} output(s)`);
  if (problems.length > 0) return verdict('fail', problems[0] ?? '', figures, problems);
  return verdict(
    'pass',
    `queued → cancelled in ${fmt(queued?.seconds ?? null)}, running → cancelled in ${fmt(runningS)}, no outputs`,
    figures,
  );
}
