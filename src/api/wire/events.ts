/**
 * Server-Sent Events of GET /v1/jobs/{id}/events and webhook bodies. Each SSE event has an `id:` (the
 * per-job sequence number, for `Last-Event-ID`), an `event:` name and JSON `data:` of the shape below.
 */
import { z } from 'zod';
import { jobErrorSchema, jobSchema, jobStatusSchema, outputSchema, progressSchema } from './job.js';

export const statusEventSchema = z.looseObject({
  status: jobStatusSchema,
  cancel_requested: z.boolean().optional(),
  attempts: z
    .number()
    .int()
    .optional()
    .describe(
      'How many times a worker has claimed the job: the number of its current or last run, never reused. ' +
        'Runs given back by a stopping worker count here but not against the retry limit.',
    ),
  reason: z.string().optional().describe('Why a running job went back to the queue'),
  snapshot: z
    .boolean()
    .optional()
    .describe(
      'True on the first event of a fresh stream of a job nothing has happened to yet (queued): the state now. ' +
        'Otherwise a fresh stream replays what happened, in order, up to now.',
    ),
});

export const progressEventSchema = z.looseObject(progressSchema.shape);

/** The same object as in the job's `outputs` (url and type included). */
export const outputEventSchema = z.looseObject(outputSchema.shape);

export const doneEventSchema = z.looseObject({
  status: jobStatusSchema.describe('completed, failed or cancelled'),
  error: jobErrorSchema.nullable(),
  outputs: z
    .array(outputSchema)
    .optional()
    .describe("A completed job's outputs with their URLs, as in GET /v1/jobs/{id}: no extra request needed"),
});

/** One job event as `arrakis/client` yields it: `{ event, data }`, discriminated by `event`. */
export const jobEventSchema = z
  .discriminatedUnion('event', [
    z.object({ event: z.literal('status'), data: statusEventSchema }),
    z.object({ event: z.literal('progress'), data: progressEventSchema }),
    z.object({ event: z.literal('output'), data: outputEventSchema }),
    z.object({ event: z.literal('done'), data: doneEventSchema }),
  ])
  .describe('A job event: `event:` is the SSE event name, `data:` its JSON');
export type JobEvent = z.infer<typeof jobEventSchema>;
export type JobEventName = JobEvent['event'];

export const webhookEventSchema = z
  .object({
    type: z.enum(['job.completed', 'job.failed', 'job.cancelled']),
    timestamp: z.iso.datetime(),
    data: z.object({ job: jobSchema }),
  })
  .describe('The JSON body of a webhook delivery (Standard Webhooks signed)');
export type WebhookEvent = z.infer<typeof webhookEventSchema>;
