/** RFC 9457 problem details, the body of every error the API answers (`application/problem+json`). */
import { z } from 'zod';
import { API_ERRORS, type ApiErrorCode } from '../../errors.js';

export const errorCodeSchema = z
  .enum(Object.keys(API_ERRORS) as [ApiErrorCode, ...ApiErrorCode[]])
  .describe('Stable machine code (docs/errors.md)');

export const problemSchema = z
  .looseObject({
    type: z.string().describe('https://arrakis.dev/errors/<code>'),
    title: z.string(),
    status: z.number().int().describe('The HTTP status'),
    code: errorCodeSchema,
    detail: z.string().describe('What went wrong and what to do'),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('The failing fields (validation_failed)'),
    node_ids: z.array(z.string()).optional().describe('The nodes at fault (workflow_invalid)'),
  })
  .describe('RFC 9457 problem details')
  .meta({
    examples: [
      {
        type: 'https://arrakis.dev/errors/quota_exceeded',
        title: 'Too many active jobs',
        status: 429,
        code: 'quota_exceeded',
        detail: 'The per-user limit of 5 active jobs is reached; retry when one finishes.',
      },
    ],
  });
export type Problem = z.infer<typeof problemSchema>;
