/**
 * The public JSON of a job as text, built directly: exactly `JSON.stringify(toPublicJob(job))` (same keys,
 * same order, same values), without the intermediate object for the top level. GET /v1/jobs/{id} and the
 * submit answer send it; nested parts (progress, outputs, error, metadata, models) go through the same
 * mappers and JSON.stringify as before, and a view with a field the types do not allow is rendered the old way.
 */
import {
  publicJobError,
  publicOutputs,
  toPublicJob,
  type JobView,
  type PublicJobOutput,
} from './public-job.js';
import { secondsBetween } from './types.js';

function text(value: string): string {
  return JSON.stringify(value);
}

function textOrNull(value: string | null): string {
  return value === null ? 'null' : JSON.stringify(value);
}

function numberOrNull(value: number | null): string {
  return value === null ? 'null' : JSON.stringify(value);
}

function isoOrNull(ms: number | null): string {
  return ms === null ? 'null' : `"${new Date(ms).toISOString()}"`;
}

/** True when every field the text is built from has a type JSON.stringify(toPublicJob(job)) renders the same way. */
function plain(job: JobView): boolean {
  return (
    typeof job.id === 'string' &&
    typeof job.status === 'string' &&
    typeof job.userId === 'string' &&
    typeof job.createdAt === 'number' &&
    (job.startedAt === null || typeof job.startedAt === 'number') &&
    (job.finishedAt === null || typeof job.finishedAt === 'number') &&
    typeof job.cancelRequested === 'boolean' &&
    typeof job.priority === 'number' &&
    (job.templateName === null || typeof job.templateName === 'string') &&
    job.progress !== undefined &&
    Array.isArray(job.outputs) &&
    job.error !== undefined &&
    typeof job.metadata === 'object' &&
    job.metadata !== null &&
    Array.isArray(job.models)
  );
}

/** The outputs as a `Prefer: wait` answer gives them: absolute URLs (`origin` + the relative URL). */
export function answerOutputs(outputs: PublicJobOutput[], origin: string): PublicJobOutput[] {
  return outputs.map((o) => ({ ...o, url: `${origin}${o.url}` }));
}

/**
 * `JSON.stringify(toPublicJob(job))`, faster. With `origin`, output URLs are absolute, as a `Prefer: wait`
 * answer gives them.
 */
export function publicJobJson(job: JobView, origin?: string): string {
  if (!plain(job)) {
    const publicJob = toPublicJob(job);
    if (origin !== undefined) publicJob.outputs = answerOutputs(publicJob.outputs, origin);
    return JSON.stringify(publicJob);
  }
  const outputs =
    job.outputs.length === 0
      ? '[]'
      : JSON.stringify(origin === undefined ? publicOutputs(job) : answerOutputs(publicOutputs(job), origin));
  const error = job.error === null ? 'null' : JSON.stringify(publicJobError(job.error));
  const models =
    job.models.length === 0 ? '[]' : JSON.stringify(job.models.map((m) => ({ kind: m.kind, name: m.name })));
  return (
    `{"id":${text(job.id)},"status":${text(job.status)},"user_id":${text(job.userId)}` +
    `,"created_at":"${new Date(job.createdAt).toISOString()}"` +
    `,"started_at":${isoOrNull(job.startedAt)},"finished_at":${isoOrNull(job.finishedAt)}` +
    `,"queue_wait_s":${numberOrNull(secondsBetween(job.createdAt, job.startedAt))}` +
    `,"run_time_s":${numberOrNull(secondsBetween(job.startedAt, job.finishedAt))}` +
    `,"total_time_s":${numberOrNull(secondsBetween(job.createdAt, job.finishedAt))}` +
    `,"cancel_requested":${job.cancelRequested ? 'true' : 'false'},"priority":${JSON.stringify(job.priority)}` +
    `,"template":${textOrNull(job.templateName)}` +
    `,"progress":${job.progress === null ? 'null' : JSON.stringify(job.progress)}` +
    `,"outputs":${outputs},"error":${error},"metadata":${JSON.stringify(job.metadata)},"models":${models}}`
  );
}
