/**
 * Wire shapes of jobs: the submission body, the job, its outputs and the list page. Browser-safe (zod only):
 * the server validates and documents with these objects, and `arrakis/client` infers its types from them.
 */
import { z } from 'zod';
import { jobSchema, jobStatusSchema } from '../../jobs/public-job-schema.js';

// The job itself is the jobs domain's public shape (webhooks and the store render it too): one schema, there.
export {
  jobErrorSchema,
  jobSchema,
  jobStatusSchema,
  outputSchema,
  progressSchema,
  timestamp,
} from '../../jobs/public-job-schema.js';
export type {
  PublicJob as Job,
  PublicJobError as JobError,
  PublicJobErrorDetail as JobErrorDetail,
  PublicJobOutput as JobOutput,
  PublicJobProgress as JobProgress,
  PublicJobStatus as JobStatus,
} from '../../jobs/public-job-schema.js';

export const USER_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

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
