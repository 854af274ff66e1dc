/**
 * Zod schemas of the public HTTP API (CONTRACT.md). They validate requests and feed /openapi.json,
 * so every field carries a description.
 */
import { z } from 'zod';
import { JOB_STATUSES } from '../jobs/types.js';

export const USER_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

const nodeSchema = z
  .object({
    class_type: z.string().min(1).describe('ComfyUI node class name'),
    inputs: z.record(z.string(), z.unknown()).describe('Literal values or links ["<node id>", <output index>]'),
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
  .describe('A ComfyUI API-format prompt: node id → { class_type, inputs }; links are ["<node id>", <output index>]');

export const inputSchema = z.union([
  z.strictObject({ url: z.string().min(1).max(4096).describe('http(s) URL fetched through the SSRF guard') }),
  z.strictObject({
    base64: z.string().min(1).describe('The file, base64-encoded'),
    filename: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore and dash only')
      .describe('File name (letters, digits, . _ -)'),
  }),
]);

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
    webhook: z.strictObject({ url: z.string().min(1).max(2048) }).optional(),
    priority: z.number().int().min(-1000).max(1000).optional().describe('Higher runs first (default 0)'),
    metadata: z.record(z.string(), z.unknown()).optional().describe('Your own data, at most 4 KiB of JSON'),
    user_id: z.string().optional().describe('If present, must equal the acting user'),
    pool: z.string().min(1).max(64).optional().describe('GPU pool, when the account allows it'),
  })
  .describe('Exactly one of `workflow` or `template` (+ `params`)');
export type CreateJobBody = z.infer<typeof createJobBody>;

export const progressSchema = z
  .object({ value: z.number(), max: z.number(), node: z.string().nullable() })
  .nullable();

export const outputSchema = z.object({
  index: z.number().int(),
  node_id: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size: z.number().int(),
  url: z.string().describe('Download URL (relative to the API)'),
});

export const jobSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  user_id: z.string(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  queue_wait_s: z.number().nullable(),
  run_time_s: z.number().nullable(),
  total_time_s: z.number().nullable(),
  cancel_requested: z.boolean(),
  priority: z.number().int(),
  template: z.string().nullable(),
  progress: progressSchema,
  outputs: z.array(outputSchema),
  error: z.object({ code: z.string(), message: z.string(), node_id: z.string().optional() }).nullable(),
  metadata: z.record(z.string(), z.unknown()),
  models: z
    .array(z.object({ kind: z.string(), name: z.string() }))
    .describe('Model files the workflow loads (kind: checkpoint|lora|vae|clip|unet|controlnet|upscale|other)'),
});

export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().describe('Stable machine code (docs/errors.md)'),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    node_ids: z.array(z.string()).optional(),
  })
  .describe('RFC 9457 problem details');

export const jobIdParams = z.object({ id: z.string().min(1).max(64) });

export const listJobsQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const limitsSchema = z.strictObject({
  max_active_jobs_per_user: z.number().int().min(1).max(100000).default(5),
  max_active_jobs: z.number().int().min(1).max(10000000).default(100),
  submit_rate_per_user: z.number().positive().max(100000).default(5),
  submit_burst_per_user: z.number().int().min(1).max(100000).default(10),
});

export const jwtConfigSchema = z
  .strictObject({
    issuer: z.string().min(1).max(512),
    audience: z.string().min(1).max(512),
    algorithms: z.array(z.enum(['RS256', 'ES256', 'EdDSA', 'HS256'])).min(1),
    jwks_url: z.url({ protocol: /^https?$/ }).optional(),
    secret: z.string().min(32, 'at least 32 characters').optional(),
  })
  .refine((j) => (j.jwks_url === undefined) !== (j.secret === undefined), {
    message: 'give exactly one of jwks_url or secret',
  })
  .refine((j) => j.secret === undefined || j.algorithms.every((a) => a === 'HS256'), {
    message: 'a shared secret only verifies HS256',
    path: ['algorithms'],
  })
  .refine((j) => j.jwks_url === undefined || !j.algorithms.includes('HS256'), {
    message: 'HS256 needs a shared secret, not a JWKS URL',
    path: ['algorithms'],
  });

const nodeTypeList = z.array(z.string().min(1).max(128)).max(1000);

export const createAccountBody = z.strictObject({
  name: z.string().min(1).max(200),
  limits: limitsSchema.partial().optional(),
  jwt: jwtConfigSchema.optional(),
  node_allowlist: nodeTypeList.nullable().optional().describe('Node types the account may submit'),
  allowed_pools: z.array(z.string().min(1).max(64)).nullable().optional(),
});

export const patchAccountBody = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  limits: limitsSchema.partial().optional(),
  jwt: jwtConfigSchema.nullable().optional(),
  node_allowlist: nodeTypeList.nullable().optional(),
  allowed_pools: z.array(z.string().min(1).max(64)).nullable().optional(),
});

export const createKeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  scopes: z.array(z.enum(['jobs:write', 'jobs:read', 'workflows:raw'])).min(1).optional(),
});

export const templateParamSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/),
  node: z.string().min(1),
  input: z.string().min(1),
  type: z.enum(['string', 'integer', 'number', 'boolean', 'image']),
  description: z.string().max(1000).optional(),
  default: z.unknown().optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  enum: z.array(z.union([z.string(), z.number()])).min(1).optional(),
  max_length: z.number().int().positive().optional(),
  required: z.boolean().optional(),
});

export const templateBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
  description: z.string().max(4000).default(''),
  workflow: workflowSchema,
  params: z.array(templateParamSchema).max(100).default([]),
});
