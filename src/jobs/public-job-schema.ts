/**
 * The job as API clients and webhook receivers see it (CONTRACT.md "The job"), as one zod schema: the API
 * documents its responses with it, `arrakis/client` infers its types from it, and `toPublicJob`
 * (public-job.ts) produces exactly its type. Browser-safe: zod and the error and status tables only.
 */
import { z } from 'zod';
import { JOB_ERRORS } from '../errors.js';
import { JOB_STATUSES, MODEL_KINDS } from './types.js';

/** ISO 8601 UTC timestamp as the API writes it (`format: date-time` in OpenAPI). */
export const timestamp = z.iso.datetime();

export const progressSchema = z
  .object({
    value: z.number().describe('Steps done of the node running now (0 of 1 for a node without steps)'),
    max: z.number().describe('Steps in all of the node running now'),
    node: z.string().nullable().describe('The node running now (null once the prompt is done)'),
    class_type: z.string().nullable().optional().describe("The running node's class_type"),
    fraction: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        '0–1 over the whole prompt: nodes done / nodes to run, weighted by sampler steps; cached nodes count done',
      ),
  })
  .describe('Progress: of the node running now (value/max) and of the whole prompt (fraction)');
export type PublicJobProgress = z.infer<typeof progressSchema>;

export const outputSchema = z.object({
  index: z.number().int().min(0),
  node_id: z.string().describe('The node that wrote the file'),
  filename: z.string(),
  content_type: z.string(),
  size: z.number().int().min(0).describe('Bytes'),
  url: z
    .string()
    .describe(
      'Download URL: relative to the API root, or absolute in a `Prefer: wait` answer (from --public-url, else the request Host)',
    ),
  type: z
    .enum(['output', 'temp'])
    // A control plane older than output types sends none: its outputs were all saved files.
    .default('output')
    .describe(
      '`output`: a saved file (SaveImage); `temp`: a preview (PreviewImage), listed after saved outputs',
    ),
  data: z
    .string()
    .optional()
    .describe(
      "The file's bytes, base64: only in a `Prefer: wait` answer that also asked `outputs=inline`, for the outputs " +
        'that fit its 8 MiB (in order), for a key with `jobs:read`; the others are fetched from `url`',
    ),
});
export type PublicJobOutput = z.infer<typeof outputSchema>;

export const jobErrorSchema = z.object({
  code: z.enum(Object.keys(JOB_ERRORS) as [keyof typeof JOB_ERRORS]).describe('Stable code (docs/errors.md)'),
  message: z.string(),
  node_id: z.string().optional().describe('The node that failed, when one did'),
  details: z
    .array(
      z.object({
        node_id: z.string(),
        class_type: z.string().nullable(),
        input: z.string().nullable().describe('The input ComfyUI named (null: the node as a whole)'),
        message: z
          .string()
          .describe("ComfyUI's own text, e.g. 'Failed to convert an input value to a INT value: …'"),
      }),
    )
    .optional()
    .describe('Every node input ComfyUI refused, when it said which (workflow_invalid)'),
});
export type PublicJobErrorDetail = NonNullable<z.infer<typeof jobErrorSchema>['details']>[number];
export type PublicJobError = z.infer<typeof jobErrorSchema>;

export const jobStatusSchema = z.enum(JOB_STATUSES);
export type PublicJobStatus = z.infer<typeof jobStatusSchema>;

export const jobSchema = z
  .object({
    id: z.string(),
    status: jobStatusSchema,
    user_id: z.string(),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
    queue_wait_s: z.number().nullable().describe('Seconds from submission to start'),
    run_time_s: z.number().nullable().describe('Seconds from start to end'),
    total_time_s: z.number().nullable().describe('Seconds from submission to end'),
    cancel_requested: z.boolean(),
    priority: z.number().int(),
    template: z.string().nullable().describe('The template it was made from, if any'),
    progress: progressSchema.nullable(),
    outputs: z.array(outputSchema),
    error: jobErrorSchema.nullable(),
    metadata: z.record(z.string(), z.unknown()),
    models: z
      .array(
        z.object({
          kind: z.enum(MODEL_KINDS),
          name: z.string(),
        }),
      )
      // A control plane older than models sends none: clients still parse its jobs.
      .default([])
      .describe('Model files the workflow loads, derived at admission from its loader nodes'),
  })
  .meta({
    examples: [
      {
        id: 'job_01JD8ZQ4Y7K3M2N5P6Q7R8S9T0',
        status: 'completed',
        user_id: 'alice',
        created_at: '2026-01-05T10:00:00.000Z',
        started_at: '2026-01-05T10:00:00.250Z',
        finished_at: '2026-01-05T10:00:03.100Z',
        queue_wait_s: 0.25,
        run_time_s: 2.85,
        total_time_s: 3.1,
        cancel_requested: false,
        priority: 0,
        template: null,
        models: [],
        progress: null,
        outputs: [
          {
            index: 0,
            node_id: '3',
            filename: 'out_00001_.png',
            content_type: 'image/png',
            size: 1834,
            url: '/v1/jobs/job_01JD8ZQ4Y7K3M2N5P6Q7R8S9T0/outputs/0',
            type: 'output',
          },
        ],
        error: null,
        metadata: {},
      },
    ],
  });
/** The job on the wire: inferred from the schema, so what is documented and what is sent cannot drift. */
export type PublicJob = z.infer<typeof jobSchema>;
