/** Wire shapes of the operator API under /v1/admin (admin key). Browser-safe: zod only. */
import { z } from 'zod';
import { timestamp, workflowSchema } from './job.js';

export const limitsSchema = z.strictObject({
  max_active_jobs_per_user: z.number().int().min(1).max(100000).default(5),
  max_active_jobs: z.number().int().min(1).max(10000000).default(100),
  submit_rate_per_user: z.number().positive().max(100000).default(5).describe('Submissions per second'),
  submit_burst_per_user: z.number().int().min(1).max(100000).default(10),
});
export type AccountLimits = z.output<typeof limitsSchema>;

const jwtAlgorithms = z.array(z.enum(['RS256', 'ES256', 'EdDSA', 'HS256'])).min(1);

export const jwtConfigSchema = z
  .strictObject({
    issuer: z.string().min(1).max(512),
    audience: z.string().min(1).max(512),
    algorithms: jwtAlgorithms,
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
  })
  .describe('End-user JWTs the account signs: `sub` is the user; give jwks_url or secret');

const nodeTypeList = z.array(z.string().min(1).max(128)).max(1000);
const poolList = z.array(z.string().min(1).max(64));

export const createAccountBody = z.strictObject({
  name: z.string().min(1).max(200),
  limits: limitsSchema.partial().optional(),
  jwt: jwtConfigSchema.optional(),
  node_allowlist: nodeTypeList.nullable().optional().describe('Node types the account may submit'),
  file_node_allowlist: nodeTypeList
    .optional()
    .describe(
      'DANGEROUS: node types whose file inputs pass to ComfyUI unchecked, so they can read any file on the GPU host (other tenants included); default none. See docs/security.md',
    ),
  allowed_pools: poolList.nullable().optional(),
});
export type CreateAccountBody = z.input<typeof createAccountBody>;

export const patchAccountBody = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  limits: limitsSchema.partial().optional(),
  jwt: jwtConfigSchema.nullable().optional(),
  node_allowlist: nodeTypeList.nullable().optional(),
  file_node_allowlist: nodeTypeList.optional(),
  allowed_pools: poolList.nullable().optional(),
});
export type PatchAccountBody = z.input<typeof patchAccountBody>;

export const accountSchema = z.object({
  id: z.string(),
  name: z.string(),
  limits: z.object({
    max_active_jobs_per_user: z.number().int(),
    max_active_jobs: z.number().int(),
    submit_rate_per_user: z.number(),
    submit_burst_per_user: z.number().int(),
  }),
  jwt: z
    .object({
      issuer: z.string(),
      audience: z.string(),
      algorithms: jwtAlgorithms,
      jwks_url: z.string().optional(),
      secret: z.literal('(set)').optional().describe('Never shown; "(set)" when there is one'),
    })
    .nullable(),
  node_allowlist: z.array(z.string()).nullable(),
  file_node_allowlist: z
    .array(z.string())
    .describe('Node types whose file inputs are not checked (dangerous)'),
  allowed_pools: z.array(z.string()).nullable(),
  created_at: timestamp,
});
export type Account = z.infer<typeof accountSchema>;

export const createdAccountSchema = accountSchema.extend({
  webhook_secret: z.string().describe("whsec_…: signs this account's webhooks; shown only here"),
});
export type CreatedAccount = z.infer<typeof createdAccountSchema>;

export const accountListSchema = z.object({ data: z.array(accountSchema) });

export const keyScopeSchema = z.enum(['jobs:write', 'jobs:read', 'workflows:raw']);

export const createKeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  scopes: z.array(keyScopeSchema).min(1).optional().describe('Default: all three'),
});
export type CreateKeyBody = z.input<typeof createKeyBody>;

export const createdKeySchema = z.object({
  id: z.string(),
  key: z.string().describe('The secret key; shown only here, only its hash is stored'),
  name: z.string(),
  scopes: z.array(keyScopeSchema),
});
export type CreatedKey = z.infer<typeof createdKeySchema>;

export const apiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(keyScopeSchema),
  created_at: timestamp,
  last_used_at: timestamp.nullable(),
  revoked_at: timestamp.nullable(),
});
export type ApiKey = z.infer<typeof apiKeySchema>;
export const apiKeyListSchema = z.object({ data: z.array(apiKeySchema) });

export const templateParamSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/),
  node: z.string().min(1).optional().describe('Node id the value is written to (or use `targets`)'),
  input: z.string().min(1).optional().describe('Input name on that node'),
  targets: z
    .array(z.strictObject({ node: z.string().min(1), input: z.string().min(1) }))
    .min(1)
    .max(32)
    .optional()
    .describe(
      'Several node inputs the value is written to (e.g. `size` → width and height), instead of node + input',
    ),
  type: z.enum(['string', 'integer', 'number', 'boolean', 'image']),
  description: z.string().max(1000).optional(),
  default: z.unknown().optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  enum: z
    .array(z.union([z.string(), z.number()]))
    .min(1)
    .optional(),
  max_length: z.number().int().positive().optional(),
  required: z.boolean().optional(),
});
export type TemplateParam = z.infer<typeof templateParamSchema>;

/** A UI-format export as a template's workflow; the server converts it with the workers' node definitions. */
const uiWorkflowInput = z
  .looseObject({ nodes: z.array(z.unknown()), links: z.array(z.unknown()).optional() })
  .describe("A UI-format export ({ nodes, links, … } as ComfyUI's Save writes it)");

export const templateBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
  description: z.string().max(4000).default(''),
  workflow: z.union([workflowSchema, uiWorkflowInput]),
  params: z.array(templateParamSchema).max(100).default([]),
  account_id: z
    .string()
    .min(1)
    .nullable()
    .optional()
    .describe('The account that owns it: only that account sees and runs it. Absent or null: global'),
});
export type TemplateBody = z.input<typeof templateBody>;

export const templateSchema = z.object({
  name: z.string(),
  description: z.string(),
  workflow: z.record(z.string(), z.unknown()),
  params: z.array(templateParamSchema),
  params_schema: z.record(z.string(), z.unknown()).describe('JSON Schema of `params`'),
  account_id: z.string().nullable().describe('The owning account; null for a global template'),
  created_at: timestamp,
  updated_at: timestamp,
});
export type Template = z.infer<typeof templateSchema>;
export const templateListSchema = z.object({ data: z.array(templateSchema) });

export const createWorkerTokenBody = z.strictObject({
  name: z.string().min(1).max(200),
  pool: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe("Pool the agent serves; absent: the server's default pool (--default-pool)"),
});
export type CreateWorkerTokenBody = z.input<typeof createWorkerTokenBody>;

export const createdWorkerTokenSchema = z.object({
  id: z.string(),
  token: z.string().describe('For `arrakis agent --token`; shown only here'),
  pool: z.string(),
});
export type CreatedWorkerToken = z.infer<typeof createdWorkerTokenSchema>;

export const workerTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  pool: z.string(),
  created_at: timestamp,
  revoked_at: timestamp.nullable(),
});
export type WorkerTokenInfo = z.infer<typeof workerTokenSchema>;
export const workerTokenListSchema = z.object({ data: z.array(workerTokenSchema) });

export const workerSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  pool: z.string(),
  kind: z.enum(['inprocess', 'remote']),
  status: z.string().describe('starting, ready, busy, draining, …'),
  comfy_url: z.string().nullable(),
  started_at: timestamp,
  last_seen_at: timestamp,
  models_available: z.array(z.string()).describe('Model files its ComfyUI can load (loader lists)'),
  models_warm: z.array(z.string()).describe('Model files resident in its ComfyUI'),
  models_on_disk: z.array(z.string()).describe('Registered model files its model cache holds'),
  model_switches: z.number().int().describe('Model loads after its first'),
});
export type Worker = z.infer<typeof workerSchema>;
export const workerListSchema = z.object({ data: z.array(workerSchema) });

export const accountUsageSchema = z.object({
  account_id: z.string(),
  since: timestamp,
  pools: z.array(
    z.object({
      pool: z.string(),
      jobs: z.number().int(),
      run_seconds: z.number(),
      cost: z.number().nullable().describe('Attributed cost, when the pool has a price'),
    }),
  ),
  jobs: z.number().int(),
  run_seconds: z.number(),
  cost: z.number().nullable(),
});
export type AccountUsage = z.infer<typeof accountUsageSchema>;

export const rotatedSecretSchema = z.object({
  webhook_secret: z.string(),
  previous_valid_until: timestamp,
});
