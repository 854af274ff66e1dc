/** What an end user sees of the templates their account may run (GET /v1/templates). */
import { z } from 'zod';
import { timestamp } from './job.js';

export const availableTemplateSchema = z.object({
  name: z.string().describe('Send as `template` in POST /v1/jobs'),
  description: z.string(),
  scope: z.enum(['account', 'global']).describe("`account`: this account's own; `global`: every account's"),
  params_schema: z.record(z.string(), z.unknown()).describe('JSON Schema of the `params` to send with it'),
  updated_at: timestamp,
});
export type AvailableTemplate = z.infer<typeof availableTemplateSchema>;

export const availableTemplateListSchema = z.object({ data: z.array(availableTemplateSchema) });
export type AvailableTemplateList = z.infer<typeof availableTemplateListSchema>;
