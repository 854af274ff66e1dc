/**
 * Wire shapes of jobs: the submission body, the job, its outputs and the list page. Browser-safe (zod only):
 * the server validates and documents with these objects, and `arrakis/client` infers its types from them.
 */
import { z } from 'zod';
import { JOB_ERRORS } from '../../errors.js';
import { JOB_STATUSES } from '../../jobs/types.js';

export const USER_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** ISO 8601 UTC timestamp as the API writes it (`format: date-time` in OpenAPI). */
export const timestamp = z.iso.datetime();

const nodeSchema = z
  .object({
    class_type: z.string().min(1).describe('ComfyUI node class name'),
    inputs: z
      .record(z.string(), z.unknown())
      .describe('Literal values or links ["<node id>", <output index>]'),
    _meta: z.unknown().optional(),
  })
  .loose();

/** Strict shape, for templates registered by operators. */
export const workflowSchema = z
  .record(z.string().min(1).max(64), nodeSchema)
  .describe('A ComfyUI API-format prompt: node id → { class_type, inputs }');

/** Loose shape for submissions: structural problems are reported as 422 workflow_invalid with node ids. */
export const submittedWorkflowSchema = z
  .record(z.string(), z.unknown())
  .describe(
    'A ComfyUI API-format prompt: node id → { class_type, inputs }; links are ["<node id>", <output index>]. ' +
      "A UI-format export ({ nodes, links, … } as ComfyUI's Save writes it) is accepted too, converted with the " +
      "workers' node definitions.",
  );

export const inputSchema = z
  .union([
    z.strictObject({
      url: z.string().min(1).max(4096).describe('http(s) URL fetched through the SSRF guard'),
    }),
    z.strictObject({
      base64: z.string().min(1).describe('The file, base64-encoded'),
      filename: z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore and dash only')
        .describe('File name (letters, digits, . _ -)'),
    }),
  ])
  .describe('An input file: a URL to fetch, or the bytes inline (multipart file parts are the third way)');

export const inputNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1–64 letters, digits, . _ -');

export const createJobBody = z
  .strictObject({
    workflow: submittedWorkflowSchema.optional(),
    template: z.string().min(1).max(128).optional().describe('Name of a registered template'),
    params: z.record(z.string(), z.unknown()).optional().describe('Template parameters'),
    inputs: z
      .record(inputNameSchema, inputSchema)
      .optional()
      .describe('Input files by name; a LoadImage whose image equals the name loads it'),
    webhook: z
      .strictObject({
        url: z.string().min(1).max(2048).describe('Receives job.completed / job.failed / job.cancelled'),
      })
      .optional(),
    priority: z.number().int().min(-1000).max(1000).optional().describe('Higher runs first (default 0)'),
    metadata: z.record(z.string(), z.unknown()).optional().describe('Your own data, at most 4 KiB of JSON'),
    user_id: z.string().optional().describe('If present, must equal the acting user'),
    pool: z.string().min(1).max(64).optional().describe('GPU pool, when the account allows it'),
  })
  .describe('Exactly one of `workflow` or `template` (+ `params`)')
  .meta({
    examples: [
      {
        workflow: {
          '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
          '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
          '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'out' } },
        },
        inputs: { photo: { url: 'https://example.com/photo.png' } },
        webhook: { url: 'https://app.example.com/hooks/arrakis' },
      },
      { template: 'invert', params: { color: 16 } },
    ],
  });
export type CreateJobBody = z.infer<typeof createJobBody>;

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
export type JobProgress = z.infer<typeof progressSchema>;

export const outputSchema = z.object({
  index: z.number().int().min(0),
  node_id: z.string().describe('The node that wrote the file'),
  filename: z.string(),
  content_type: z.string(),
  size: z.number().int().min(0).describe('Bytes'),
  url: z
    .string()
    .describe(
      'Download URL: relative to the API root, or absolute in a `Prefer: wait` answer (built from the request Host)',
    ),
  type: z
    .enum(['output', 'temp'])
    .describe(
      '`output`: a saved file (SaveImage); `temp`: a preview (PreviewImage), listed after saved outputs',
    ),
});
export type JobOutput = z.infer<typeof outputSchema>;

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
export type JobError = z.infer<typeof jobErrorSchema>;

export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof jobStatusSchema>;

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
export type Job = z.infer<typeof jobSchema>;

export const jobListSchema = z.object({
  data: z.array(jobSchema),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last'),
});
export type JobList = z.infer<typeof jobListSchema>;

export const jobIdParams = z.object({ id: z.string().min(1).max(64) });

export const listJobsQuery = z.strictObject({
  status: jobStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const usageSchema = z.object({
  user_id: z.string(),
  active_jobs: z.number().int().describe('Queued or running now'),
  limits: z.record(z.string(), z.number()).describe("The account's limits"),
  jobs_today: z.number().int().describe('Jobs finished since 00:00 UTC'),
  run_seconds_today: z.number(),
});
export type Usage = z.infer<typeof usageSchema>;
