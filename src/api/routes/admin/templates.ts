/** /v1/admin/templates: register (API or UI format), list and delete the templates users submit by name. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../../errors.js';
import {
  checkWorkflow,
  DEFAULT_WORKFLOW_LIMITS,
  workflowSizeProblem,
} from '../../../comfy/workflow-check.js';
import { isUiWorkflow } from '../../../comfy/ui-format.js';
import { NodeTypeRegistry } from '../../../jobs/node-type-registry.js';
import { checkTemplate, paramsJsonSchema } from '../../../jobs/templates.js';
import type { Template } from '../../../jobs/types.js';
import { toApiFormat } from '../../submit-job.js';
import type { ApiContext } from '../../context.js';
import {
  templateBody,
  templateListSchema,
  templateSchema,
  workflowSchema,
  type Template as WireTemplate,
} from '../../schemas.js';
import { checkTemplateRunnable } from '../../template-checks.js';
import { adminDoc, adminErrors, noContent } from './shared.js';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The wire form of a template, with the JSON Schema of its parameters. */
export function templateJson(t: Template): WireTemplate {
  return {
    name: t.name,
    description: t.description,
    workflow: t.workflow,
    params: t.params,
    params_schema: paramsJsonSchema(t),
    account_id: t.accountId,
    created_at: new Date(t.createdAt).toISOString(),
    updated_at: new Date(t.updatedAt).toISOString(),
  };
}

/** The template body with a UI-format workflow converted (the template's params then name the UI node ids). */
function withApiFormatWorkflow(raw: unknown, nodeTypes: NodeTypeRegistry): unknown {
  if (typeof raw !== 'object' || raw === null || !('workflow' in raw) || !isUiWorkflow(raw.workflow))
    return raw;
  return { ...raw, workflow: toApiFormat(raw.workflow, nodeTypes) };
}

/** Validates and stores a template; shared by the admin route and `--templates DIR`. */
export async function saveTemplate(
  ctx: Pick<ApiContext, 'store' | 'now'> &
    Partial<Pick<ApiContext, 'nodeTypes'>> & {
      config?: Pick<ApiContext['config'], 'maxWorkflowNodes' | 'maxWorkflowLinks' | 'modelLoaders'>;
    },
  raw: unknown,
): Promise<Template> {
  const limits =
    ctx.config === undefined
      ? DEFAULT_WORKFLOW_LIMITS
      : { maxNodes: ctx.config.maxWorkflowNodes, maxLinks: ctx.config.maxWorkflowLinks };
  const tooLarge = isRecord(raw) ? workflowSizeProblem(raw.workflow, limits) : null;
  if (tooLarge !== null) {
    throw new ApiError('workflow_too_large', `${tooLarge}.`, {
      max_nodes: limits.maxNodes,
      max_links: limits.maxLinks,
    });
  }
  const converted = withApiFormatWorkflow(raw, ctx.nodeTypes ?? new NodeTypeRegistry());
  const parsed = templateBody.extend({ workflow: workflowSchema }).safeParse(converted);
  if (!parsed.success) {
    throw new ApiError('validation_failed', 'The template is invalid.', {
      errors: parsed.error.issues.map((i) => ({
        path: ['body', ...i.path.map(String)].join('.'),
        message: i.message,
      })),
    });
  }
  const t = parsed.data;
  const structural = checkWorkflow(t.workflow);
  if (structural.length > 0) {
    throw new ApiError('workflow_invalid', structural[0]?.message ?? 'invalid workflow', {
      node_ids: structural.map((p) => p.nodeId).filter((n) => n !== null),
    });
  }
  const problems = checkTemplate(t);
  if (problems.length > 0) {
    throw new ApiError('validation_failed', 'The template parameters are invalid.', {
      errors: problems.map((p) => ({ path: `body.${p.path}`, message: p.message })),
    });
  }
  await checkTemplateRunnable(ctx, t);
  const { account_id: owner, ...fields } = t;
  return await ctx.store.upsertTemplate({ ...fields, accountId: owner ?? null }, ctx.now());
}

/** Registers the template routes. */
export async function templateRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.put(
    '/v1/admin/templates/:name',
    { schema: { ...adminDoc, response: { 200: templateSchema, ...adminErrors } } },
    async (request) => {
      const params = z.object({ name: z.string() }).parse(request.params);
      const body = z.record(z.string(), z.unknown()).safeParse(request.body);
      return templateJson(await saveTemplate(ctx, { ...(body.success ? body.data : {}), name: params.name }));
    },
  );

  r.post(
    '/v1/admin/templates',
    { schema: { ...adminDoc, response: { 201: templateSchema, ...adminErrors } } },
    async (request, reply) => reply.code(201).send(templateJson(await saveTemplate(ctx, request.body))),
  );

  r.get(
    '/v1/admin/templates',
    { schema: { ...adminDoc, response: { 200: templateListSchema, ...adminErrors } } },
    async () => ({
      data: (await ctx.store.listTemplates()).map(templateJson),
    }),
  );

  r.delete(
    '/v1/admin/templates/:name',
    {
      schema: {
        ...adminDoc,
        params: z.object({ name: z.string().min(1).max(128) }),
        response: { 204: noContent, ...adminErrors },
      },
    },
    async (request, reply) => {
      if (!(await ctx.store.deleteTemplate(request.params.name)))
        throw new ApiError('not_found', 'No such template.');
      return reply.code(204).send(null);
    },
  );
}
