/**
 * zod schemas for the JSON held in TEXT columns: what the store wrote is parsed back, never cast. The workflow
 * column has its own check (workflow-column.ts).
 */
import { z } from 'zod';
import { JOB_ERRORS, type JobErrorCode } from '../errors.js';
import type { ApiKeyScope, JwtAlgorithm } from '../jobs/types.js';

export const jobInputSchema = z.object({
  name: z.string(),
  url: z.string().optional(),
  filename: z.string(),
  contentType: z.string().optional(),
  size: z.number().optional(),
  objectKey: z.string().optional(),
});

export const jobOutputSchema = z.object({
  index: z.number(),
  nodeId: z.string(),
  filename: z.string(),
  contentType: z.string(),
  size: z.number(),
  objectKey: z.string(),
  type: z.enum(['output', 'temp']).optional(),
});

export const jobErrorCodeSchema = z.custom<JobErrorCode>(
  (v) => typeof v === 'string' && Object.prototype.hasOwnProperty.call(JOB_ERRORS, v),
  'unknown job error code',
);

export const jobErrorSchema = z.object({
  code: jobErrorCodeSchema,
  message: z.string(),
  nodeId: z.string().optional(),
  details: z
    .array(
      z.object({
        nodeId: z.string(),
        classType: z.string().nullable(),
        input: z.string().nullable(),
        message: z.string(),
      }),
    )
    .optional(),
});

export const jobProgressSchema = z.object({
  value: z.number(),
  max: z.number(),
  node: z.string().nullable(),
  class_type: z.string().nullable().optional(),
  fraction: z.number().optional(),
});

export const objectSchema = z.record(z.string(), z.unknown());

const jwtAlgorithm = z.enum(['RS256', 'ES256', 'EdDSA', 'HS256'] satisfies JwtAlgorithm[]);

export const jwtConfigSchema = z.object({
  issuer: z.string(),
  audience: z.string(),
  algorithms: z.array(jwtAlgorithm),
  jwks_url: z.string().optional(),
  secret: z.string().optional(),
});

export const scopesSchema = z.array(
  z.enum(['jobs:write', 'jobs:read', 'workflows:raw'] satisfies ApiKeyScope[]),
);

export const stringListSchema = z.array(z.string());

export const templateParamsSchema = z.array(
  z.object({
    name: z.string(),
    node: z.string().optional(),
    input: z.string().optional(),
    targets: z.array(z.object({ node: z.string(), input: z.string() })).optional(),
    type: z.enum(['string', 'integer', 'number', 'boolean', 'image']),
    description: z.string().optional(),
    default: z.unknown().optional(),
    minimum: z.number().optional(),
    maximum: z.number().optional(),
    enum: z.array(z.union([z.string(), z.number()])).optional(),
    max_length: z.number().optional(),
    required: z.boolean().optional(),
  }),
);

/** Parses a JSON column with `schema`; the column holds only what the store itself wrote. */
export function parseJson<T>(schema: z.ZodType<T>, text: string): T {
  return schema.parse(JSON.parse(text));
}

/** Like parseJson, for a nullable column. */
export function parseJsonOrNull<T>(schema: z.ZodType<T>, text: string | null): T | null {
  return text === null ? null : parseJson(schema, text);
}
