/** The job as API clients and webhook receivers see it (CONTRACT.md "The job"). Pure: no HTTP, no database. */
import type { JobErrorCode } from '../errors.js';
import { secondsBetween, type Job, type JobStatus } from './types.js';

export interface PublicJobOutput {
  index: number;
  node_id: string;
  filename: string;
  content_type: string;
  size: number;
  url: string;
}

export interface PublicJob {
  id: string;
  status: JobStatus;
  user_id: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  queue_wait_s: number | null;
  run_time_s: number | null;
  total_time_s: number | null;
  cancel_requested: boolean;
  priority: number;
  template: string | null;
  progress: { value: number; max: number; node: string | null } | null;
  outputs: PublicJobOutput[];
  error: { code: JobErrorCode; message: string; node_id?: string } | null;
  metadata: Record<string, unknown>;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** What the public JSON is made from: a Job, or the store's view of one (no workflow or inputs read). */
export type JobView = Pick<
  Job,
  | 'id'
  | 'status'
  | 'userId'
  | 'createdAt'
  | 'startedAt'
  | 'finishedAt'
  | 'cancelRequested'
  | 'priority'
  | 'templateName'
  | 'progress'
  | 'outputs'
  | 'error'
  | 'metadata'
>;

/** The public form of a job's outputs; URLs are relative to the API root. */
export function publicOutputs(job: Pick<Job, 'id' | 'outputs'>): PublicJobOutput[] {
  return job.outputs.map((o) => ({
    index: o.index,
    node_id: o.nodeId,
    filename: o.filename,
    content_type: o.contentType,
    size: o.size,
    url: `/v1/jobs/${job.id}/outputs/${o.index}`,
  }));
}

/** The public JSON of `job`; output URLs are relative to the API root. */
export function toPublicJob(job: JobView): PublicJob {
  const error =
    job.error === null
      ? null
      : {
          code: job.error.code,
          message: job.error.message,
          ...(job.error.nodeId === undefined ? {} : { node_id: job.error.nodeId }),
        };
  return {
    id: job.id,
    status: job.status,
    user_id: job.userId,
    created_at: new Date(job.createdAt).toISOString(),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    queue_wait_s: secondsBetween(job.createdAt, job.startedAt),
    run_time_s: secondsBetween(job.startedAt, job.finishedAt),
    total_time_s: secondsBetween(job.createdAt, job.finishedAt),
    cancel_requested: job.cancelRequested,
    priority: job.priority,
    template: job.templateName,
    progress: job.progress,
    outputs: publicOutputs(job),
    error,
    metadata: job.metadata,
  };
}
