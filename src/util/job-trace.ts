/**
 * Stage marks on a job's hot path for `bench/dispatch --trace`: a diagnostics channel that costs one boolean
 * check while nobody listens (node:diagnostics_channel), so the marks stay in production code. A subscriber
 * gets `{ jobId, stage, at }` with `at` from performance.now() (this process's monotonic clock, sub-ms).
 */
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

export const JOB_TRACE_CHANNEL = 'arrakis:job-trace';

export interface JobTraceMark {
  /** The job (or, in the ComfyUI client, the prompt id: a first attempt's prompt id is the job id). */
  jobId: string;
  stage: string;
  at: number;
}

const marks = channel(JOB_TRACE_CHANNEL);

/** Marks `stage` of job `jobId` now, when someone listens. */
export function traceJob(jobId: string, stage: string): void {
  if (marks.hasSubscribers) marks.publish({ jobId, stage, at: performance.now() } satisfies JobTraceMark);
}
