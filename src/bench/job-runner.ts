/**
 * Submits a job and follows its events to the end, recording what the timeline and the checks need:
 * the server's timestamps, and how often a worker gave the job back to the queue (a lost worker).
 */
import { ArrakisError, type ArrakisClient, type CreateJobRequest, type Job } from '../client/index.js';
import type { BenchContext } from './context.js';
import type { CheckName, JobRecord } from './types.js';

export interface Followed {
  job: Job;
  requeues: number;
  /** Whether the job ended within --job-timeout. */
  ended: boolean;
  /** Local clock (ms) when the `done` event arrived, or null. */
  doneAt: number | null;
}

export interface FollowHooks {
  /** Called on each status the job reaches (the first is its status when the stream opened). */
  onStatus?: (status: Job['status']) => void;
  signal?: AbortSignal;
}

/** Adds or replaces the job's row in the timeline. */
export function record(
  ctx: BenchContext,
  check: CheckName,
  job: Job,
  extra: { requeues?: number; cancelled?: boolean } = {},
): void {
  const previous = ctx.records.find((r) => r.id === job.id);
  const row: JobRecord = {
    check,
    id: job.id,
    user: job.user_id,
    status: job.status,
    created_at: job.created_at,
    started_at: job.started_at,
    finished_at: job.finished_at,
    queue_wait_s: job.queue_wait_s,
    run_time_s: job.run_time_s,
    total_time_s: job.total_time_s,
    cancelled_by_bench: extra.cancelled ?? previous?.cancelled_by_bench ?? false,
    requeues: extra.requeues ?? previous?.requeues ?? 0,
  };
  if (previous === undefined) ctx.records.push(row);
  else Object.assign(previous, row);
}

/** Follows `job` until it ends or --job-timeout passes; records it. */
export async function follow(
  ctx: BenchContext,
  check: CheckName,
  client: ArrakisClient,
  job: Job,
  hooks: FollowHooks = {},
): Promise<Followed> {
  const timeout = AbortSignal.timeout(ctx.options.jobTimeoutS * 1000);
  const signal = hooks.signal === undefined ? timeout : AbortSignal.any([timeout, hooks.signal]);
  let requeues = 0;
  let running = false;
  let doneAt: number | null = null;
  try {
    for await (const event of client.jobs.stream(job.id, { signal })) {
      if (event.event === 'status') {
        if (event.data.status === 'queued' && running) requeues++;
        if (event.data.status === 'running') running = true;
        hooks.onStatus?.(event.data.status);
      } else if (event.event === 'done') {
        doneAt = Date.now();
        break;
      }
    }
  } catch (err) {
    if (!(err instanceof ArrakisError) || (err.code !== 'timeout' && err.code !== 'aborted')) throw err;
  }
  const final = await client.jobs.get(job.id);
  record(ctx, check, final, { requeues });
  if (final.status === 'completed') ctx.completed.push(final);
  return { job: final, requeues, ended: doneAt !== null, doneAt };
}

/** Submits `request` as `user` and follows it to the end. */
export async function runJob(
  ctx: BenchContext,
  check: CheckName,
  user: string,
  request: CreateJobRequest,
  options: { webhook?: string } = {},
): Promise<Followed> {
  const client = ctx.client(user);
  const job = await client.jobs.create(
    request,
    options.webhook === undefined ? {} : { webhook: options.webhook },
  );
  record(ctx, check, job);
  return await follow(ctx, check, client, job);
}

/** "completed", or the status with the job's error, for a summary line. */
export function outcome(f: Followed): string {
  if (!f.ended) return `still ${f.job.status} after --job-timeout`;
  if (f.job.error !== null) return `${f.job.status} (${f.job.error.code}: ${f.job.error.message})`;
  return f.job.status;
}
