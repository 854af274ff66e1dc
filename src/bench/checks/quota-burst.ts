/**
 * quota_burst: B submissions at once (default 8) by one user whose account allows --quota-limit active jobs
 * (default 5): exactly that many must be admitted, and every 429 must carry Retry-After. Long jobs are used
 * so none ends, freeing a slot, while the burst lands; the admitted ones are cancelled afterwards.
 */
import { ArrakisError, type ArrakisClient, type CreateJobRequest, type Job } from '../../client/index.js';
import type { BenchContext } from '../context.js';
import { record } from '../job-runner.js';
import { count } from '../types.js';
import { sleep, verdict, type Verdict } from './verdict.js';

type Answer = { ok: true; job: Job } | { ok: false; error: ArrakisError };

async function burst(client: ArrakisClient, make: () => CreateJobRequest, n: number): Promise<Answer[]> {
  return await Promise.all(
    Array.from({ length: n }, async (): Promise<Answer> => {
      try {
        return { ok: true, job: await client.jobs.create(make()) };
      } catch (err) {
        if (err instanceof ArrakisError) return { ok: false, error: err };
        throw err;
      }
    }),
  );
}

/** Cancels the admitted jobs and waits (polling) until each has ended, so their slots are free again. */
async function cleanUp(ctx: BenchContext, client: ArrakisClient, jobs: Job[]): Promise<void> {
  const deadline = Date.now() + ctx.options.jobTimeoutS * 1000;
  for (const job of jobs) {
    await client.jobs.cancel(job.id).catch(() => null);
    let now = await client.jobs.get(job.id);
    while (now.status === 'queued' || now.status === 'running') {
      if (Date.now() > deadline) break;
      await sleep(250);
      now = await client.jobs.get(job.id);
    }
    record(ctx, 'quota_burst', now, { cancelled: true });
  }
}

export async function quotaBurstCheck(ctx: BenchContext): Promise<Verdict> {
  const { burst: b, quotaLimit: limit } = ctx.options;
  const client = ctx.client('burst');
  const notes: string[] = [];
  ctx.progress.update(`${b} submissions at once against a limit of ${limit}`);
  let answers = await burst(client, ctx.jobs.long, b);
  if (answers.some((a) => !a.ok && a.error.status === 422)) {
    await cleanUp(
      ctx,
      client,
      answers.flatMap((a) => (a.ok ? [a.job] : [])),
    );
    notes.push(
      'the long job was refused (422), so the burst used the short job: one may end and free a slot',
    );
    answers = await burst(client, ctx.jobs.short, b);
  }
  const admitted = answers.flatMap((a) => (a.ok ? [a.job] : []));
  const errors = answers.flatMap((a) => (a.ok ? [] : [a.error]));
  const limited = errors.filter((e) => e.status === 429);
  const noRetryAfter = limited.filter((e) => e.retryAfter === null);
  const other = errors.filter((e) => e.status !== 429);
  const active = await client
    .usage()
    .then((u) => u.active_jobs)
    .catch(() => null);
  for (const job of admitted) record(ctx, 'quota_burst', job);
  await cleanUp(ctx, client, admitted);
  const figures = {
    submitted: count('submissions at once', b),
    limit: count('active-job limit per user', limit),
    admitted: count('admitted', admitted.length),
    rejected_429: count('answered 429', limited.length),
    retry_after_missing: count('429 without Retry-After', noRetryAfter.length),
    ...(active === null ? {} : { active_after: count('active jobs reported by /v1/usage', active) }),
  };
  const problems = [...notes];
  if (admitted.length !== limit)
    problems.push(`admitted ${admitted.length} of ${b} against a limit of ${limit}`);
  if (noRetryAfter.length > 0) problems.push(`${noRetryAfter.length} answer(s) 429 without Retry-After`);
  for (const e of other) problems.push(`unexpected answer ${e.status} ${e.code}: ${e.detail}`);
  const codes = [...new Set(limited.map((e) => e.code))].join(', ');
  const summary = `${b} at once, limit ${limit}: admitted ${admitted.length}, ${limited.length} × 429 (${codes || 'none'})`;
  const failed = problems.length > notes.length;
  return verdict(
    failed ? 'fail' : 'pass',
    failed ? `${summary}; ${problems.slice(notes.length).join('; ')}` : summary,
    figures,
    problems,
  );
}
