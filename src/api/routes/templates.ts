/**
 * GET /v1/templates: the templates the caller's account may run — its own and the global ones — with the JSON
 * Schema of their params. The workflow and where each param lands stay the operator's (admin API only).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { paramsJsonSchema, templateVisibleTo } from '../../jobs/templates.js';
import type { Template } from '../../jobs/types.js';
import { requireScope } from '../auth/authenticate.js';
import { principalOf, type ApiContext } from '../context.js';
import { jobHeaders } from '../headers.js';
import { jobDoc } from './jobs.js';
import { problemSchema } from '../wire/problem.js';
import { availableTemplateListSchema, type AvailableTemplate } from '../wire/templates.js';

function availableJson(t: Template): AvailableTemplate {
  return {
    name: t.name,
    description: t.description,
    scope: t.accountId === null ? 'global' : 'account',
    params_schema: paramsJsonSchema(t),
    updated_at: new Date(t.updatedAt).toISOString(),
  };
}

/** Registers GET /v1/templates (in the job scope, which authenticates the caller). */
export async function templateRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/templates',
    {
      schema: {
        ...jobDoc,
        summary:
          "Templates this account may run (its own and the global ones), with their params' JSON Schema",
        headers: jobHeaders,
        response: { 200: availableTemplateListSchema, 401: problemSchema, 403: problemSchema },
      },
    },
    async (request) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      const templates = await ctx.store.listTemplates();
      return { data: templates.filter((t) => templateVisibleTo(t, p.account.id)).map(availableJson) };
    },
  );
}
