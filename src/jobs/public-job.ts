/**
 * Renders a job as API clients and webhook receivers see it; the shape is `jobSchema` (public-job-schema.ts)
 * and this returns its inferred type. Pure: no HTTP, no database.
 */
import type { PublicJob } from './public-job-schema.js';
import { secondsBetween, type Job } from './types.js';

export type { PublicJob, PublicJobOutput } from './public-job-schema.js';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The public JSON of `job`; output URLs are relative to the API root. */
export function toPublicJob(job: Job): PublicJob {
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
    outputs: job.outputs.map((o) => ({
      index: o.index,
      node_id: o.nodeId,
      filename: o.filename,
      content_type: o.contentType,
      size: o.size,
      url: `/v1/jobs/${job.id}/outputs/${o.index}`,
    })),
    error,
    metadata: job.metadata,
    models: job.models.map((m) => ({ kind: m.kind, name: m.name })),
  };
}
