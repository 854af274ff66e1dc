/**
 * Renders a job as API clients and webhook receivers see it; the shape is `jobSchema` (public-job-schema.ts)
 * and this returns its inferred type. Pure: no HTTP, no database.
 */
import type { PublicJob, PublicJobOutput } from './public-job-schema.js';
import { secondsBetween, type Job, type JobError, type JobOutput } from './types.js';

export type { PublicJob, PublicJobErrorDetail, PublicJobOutput } from './public-job-schema.js';

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
  | 'models'
>;

/** The public view of a whole job row (what toJobView reads of the same row). */
export function jobViewOf(job: Job): JobView {
  return {
    id: job.id,
    status: job.status,
    userId: job.userId,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    cancelRequested: job.cancelRequested,
    priority: job.priority,
    templateName: job.templateName,
    progress: job.progress,
    outputs: job.outputs,
    error: job.error,
    metadata: job.metadata,
    models: job.models,
  };
}

/** One output as the job JSON and the `output` event show it; the URL is relative to the API root. */
export function publicOutput(jobId: string, o: JobOutput): PublicJobOutput {
  return {
    index: o.index,
    node_id: o.nodeId,
    filename: o.filename,
    content_type: o.contentType,
    size: o.size,
    url: `/v1/jobs/${jobId}/outputs/${o.index}`,
    type: o.type ?? 'output',
  };
}

/** The public JSON of a job error (also the `done` event's and the webhook's). */
export function publicJobError(error: JobError): NonNullable<PublicJob['error']> {
  return {
    code: error.code,
    message: error.message,
    ...(error.nodeId === undefined ? {} : { node_id: error.nodeId }),
    ...(error.details === undefined
      ? {}
      : {
          details: error.details.map((d) => ({
            node_id: d.nodeId,
            class_type: d.classType,
            input: d.input,
            message: d.message,
          })),
        }),
  };
}

/** The public form of a job's outputs; URLs are relative to the API root. */
export function publicOutputs(job: Pick<Job, 'id' | 'outputs'>): PublicJobOutput[] {
  return job.outputs.map((o) => publicOutput(job.id, o));
}

/** The public JSON of `job`; output URLs are relative to the API root. */
export function toPublicJob(job: JobView): PublicJob {
  const error = job.error === null ? null : publicJobError(job.error);
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
    models: job.models.map((m) => ({ kind: m.kind, name: m.name })),
  };
}
