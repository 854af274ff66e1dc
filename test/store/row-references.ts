/**
 * The zod schemas the hand-written row checks replaced (workflow-column.ts, job-event-row.ts), kept as the
 * oracle the tests compare them with and the reference bench/row-parse.ts times them against.
 */
import { z } from 'zod';

export const zodWorkflowSchema = z.record(
  z.string(),
  z.object({
    class_type: z.string(),
    inputs: z.record(z.string(), z.unknown()),
    _meta: z.unknown().optional(),
  }),
);

const zodObjectSchema = z.record(z.string(), z.unknown());

export const zodJobEventRowSchema = z
  .object({
    job_id: z.string(),
    seq: z.number(),
    type: z.enum(['status', 'progress', 'output', 'done']),
    data: z.string().transform((s) => zodObjectSchema.parse(JSON.parse(s))),
    at: z.number(),
  })
  .transform((r) => ({ jobId: r.job_id, seq: r.seq, type: r.type, data: r.data, at: r.at }));
