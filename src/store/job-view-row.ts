/**
 * The public view of a job row: only the columns GET /v1/jobs/{id} shows. It skips the workflow and inputs,
 * whose JSON (a copy of every node through zod) was the largest per-request cost the profile showed on reads.
 */
import { z } from 'zod';
import type { JobView } from '../jobs/public-job.js';
import { JOB_STATUSES } from '../jobs/types.js';
import {
  jobErrorSchema,
  jobOutputSchema,
  jobProgressSchema,
  objectSchema,
  parseJson,
  parseJsonOrNull,
} from './json-columns.js';
import { modelRefsSchema } from './rows.js';

/** The columns of a view, in the order the SQL selects them. */
export const JOB_VIEW_COLUMNS = `id, user_id, status, priority, cancel_requested, created_at, started_at,
  finished_at, template_name, metadata, progress, outputs, error, models`;

const num = z.number();
const numOrNull = z.number().nullable();
const strOrNull = z.string().nullable();

const viewRowSchema = z.object({
  id: z.string(),
  user_id: z.string(),
  status: z.enum(JOB_STATUSES),
  priority: num,
  cancel_requested: num,
  created_at: num,
  started_at: numOrNull,
  finished_at: numOrNull,
  template_name: strOrNull,
  metadata: z.string(),
  progress: strOrNull,
  outputs: z.string(),
  error: strOrNull,
  models: z.string(),
});
const outputsSchema = z.array(jobOutputSchema);

/** A JSON list column: most jobs' `outputs` and `models` are the empty list, which needs no parse. */
function parseList<T>(schema: z.ZodType<T[]>, text: string): T[] {
  return text === '[]' ? [] : parseJson(schema, text);
}

/** A row selected with JOB_VIEW_COLUMNS → JobView. */
export function toJobView(row: unknown): JobView {
  const r = viewRowSchema.parse(row);
  return {
    id: r.id,
    userId: r.user_id,
    status: r.status,
    priority: r.priority,
    cancelRequested: r.cancel_requested !== 0,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    templateName: r.template_name,
    metadata: r.metadata === '{}' ? {} : parseJson(objectSchema, r.metadata),
    progress: parseJsonOrNull(jobProgressSchema, r.progress),
    outputs: parseList(outputsSchema, r.outputs),
    error: parseJsonOrNull(jobErrorSchema, r.error),
    models: parseList(modelRefsSchema, r.models),
  };
}
