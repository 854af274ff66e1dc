/**
 * Operator endpoints under /v1/admin, behind the admin key: accounts, API keys, templates, webhook
 * deliveries and secret rotation, worker tokens, fleet decisions.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../errors.js';
import { checkWorkflow, DEFAULT_WORKFLOW_LIMITS, workflowSizeProblem } from '../../comfy/workflow-check.js';
import { isUiWorkflow } from '../../comfy/ui-format.js';
import { NodeTypeRegistry } from '../../jobs/node-type-registry.js';
import { checkTemplate, paramsJsonSchema } from '../../jobs/templates.js';
import { ALL_SCOPES, DEFAULT_LIMITS, type Account, type Template } from '../../jobs/types.js';
import type { WebhookDelivery } from '../../store/contract.js';
import { newId } from '../../util/ids.js';
import { newWebhookSecret } from '../../webhooks/secrets.js';
import { mintApiKey } from '../auth/api-keys.js';
import { toApiFormat } from '../submit-job.js';
import { UNPOOLED, type ApiContext } from '../context.js';
import { adminModelRoutes } from './admin-models.js';
import {
  accountListSchema,
  accountSchema,
  accountUsageSchema,
  apiKeyListSchema,
  createAccountBody,
  createdAccountSchema,
  createdKeySchema,
  createKeyBody,
  patchAccountBody,
  problemSchema,
  rotatedSecretSchema,
  templateBody,
  templateListSchema,
  templateSchema,
  workerListSchema,
  workflowSchema,
  type Account as WireAccount,
  type Template as WireTemplate,
} from '../schemas.js';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A 204 answer: no body. */
export const noContent = z.null().describe('No content');
const errors = { 400: problemSchema, 401: problemSchema, 404: problemSchema };

function accountJson(a: Account): WireAccount {
  return {
    id: a.id,
    name: a.name,
    limits: a.limits,
    jwt:
      a.jwt === null
        ? null
        : { ...a.jwt, secret: a.jwt.secret === undefined ? undefined : ('(set)' as const) },
    node_allowlist: a.nodeAllowlist,
    file_node_allowlist: a.fileNodeAllowlist,
    allowed_pools: a.allowedPools,
    created_at: new Date(a.createdAt).toISOString(),
  };
}

function templateJson(t: Template): WireTemplate {
  return {
    name: t.name,
    description: t.description,
    workflow: t.workflow,
    params: t.params,
    params_schema: paramsJsonSchema(t),
    created_at: new Date(t.createdAt).toISOString(),
    updated_at: new Date(t.updatedAt).toISOString(),
  };
}

function deliveryJson(d: WebhookDelivery): Record<string, unknown> {
  return {
    id: d.id,
    job_id: d.jobId,
    url: d.url,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? new Date(d.nextAttemptAt).toISOString() : null,
    last_error: d.lastError,
    created_at: new Date(d.createdAt).toISOString(),
    delivered_at: d.deliveredAt === null ? null : new Date(d.deliveredAt).toISOString(),
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
      config?: Pick<ApiContext['config'], 'maxWorkflowNodes' | 'maxWorkflowLinks'>;
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
  return await ctx.store.upsertTemplate(t, ctx.now());
}

/** Registers the admin routes (the caller adds the admin-key hook). */
export async function adminRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['admin'];
  const security = [{ admin: [] }];
  const idParams = z.object({ id: z.string().min(1).max(64) });

  r.post(
    '/v1/admin/accounts',
    {
      schema: { tags, security, body: createAccountBody, response: { 201: createdAccountSchema, ...errors } },
    },
    async (request, reply) => {
      const b = request.body;
      const secret = newWebhookSecret();
      const account = await ctx.store.createAccount(
        {
          name: b.name,
          limits: { ...DEFAULT_LIMITS, ...b.limits },
          jwt: b.jwt ?? null,
          nodeAllowlist: b.node_allowlist ?? null,
          fileNodeAllowlist: b.file_node_allowlist ?? [],
          allowedPools: b.allowed_pools ?? null,
          webhookSecret: secret,
        },
        ctx.now(),
      );
      ctx.auth.invalidate();
      return reply.code(201).send({ ...accountJson(account), webhook_secret: secret });
    },
  );

  r.get(
    '/v1/admin/accounts',
    { schema: { tags, security, response: { 200: accountListSchema, ...errors } } },
    async () => ({
      data: (await ctx.store.listAccounts()).map(accountJson),
    }),
  );

  r.get(
    '/v1/admin/accounts/:id/usage',
    {
      schema: {
        tags,
        security,
        summary: "An account's finished jobs, GPU run time and attributed cost per pool",
        description:
          'Cost of a job = its run seconds × the pool price × (1 + the pool idle seconds billed per busy second).',
        params: idParams,
        querystring: z.strictObject({ since: z.iso.datetime().optional() }),
        response: { 200: accountUsageSchema, ...errors },
      },
    },
    async (request) => {
      const account = await ctx.store.getAccount(request.params.id);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      const now = new Date(ctx.now());
      const since =
        request.query.since === undefined
          ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
          : Date.parse(request.query.since);
      const pricing = ctx.poolPricing?.() ?? new Map();
      const pools = (await ctx.store.accountUsage(account.id, since)).map((u) => {
        const price = pricing.get(u.pool ?? UNPOOLED);
        const cost =
          price === undefined ? null : u.runSeconds * price.pricePerGpuSecond * (1 + price.idlePerBusySecond);
        return { pool: u.pool, jobs: u.jobs, run_seconds: u.runSeconds, cost };
      });
      const costs = pools.map((p) => p.cost).filter((c): c is number => c !== null);
      return {
        account_id: account.id,
        since: new Date(since).toISOString(),
        pools,
        jobs: pools.reduce((n, p) => n + p.jobs, 0),
        run_seconds: pools.reduce((n, p) => n + p.run_seconds, 0),
        cost: costs.length === 0 ? null : costs.reduce((a, b) => a + b, 0),
      };
    },
  );

  r.get(
    '/v1/admin/accounts/:id',
    { schema: { tags, security, params: idParams, response: { 200: accountSchema, ...errors } } },
    async (request) => {
      const account = await ctx.store.getAccount(request.params.id);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      return accountJson(account);
    },
  );

  r.patch(
    '/v1/admin/accounts/:id',
    {
      schema: {
        tags,
        security,
        params: idParams,
        body: patchAccountBody,
        response: { 200: accountSchema, ...errors },
      },
    },
    async (request) => {
      const current = await ctx.store.getAccount(request.params.id);
      if (current === null) throw new ApiError('not_found', 'No account with this id.');
      const b = request.body;
      const updated = await ctx.store.updateAccount(current.id, {
        ...(b.name === undefined ? {} : { name: b.name }),
        ...(b.limits === undefined ? {} : { limits: { ...current.limits, ...b.limits } }),
        ...(b.jwt === undefined ? {} : { jwt: b.jwt }),
        ...(b.node_allowlist === undefined ? {} : { nodeAllowlist: b.node_allowlist }),
        ...(b.file_node_allowlist === undefined ? {} : { fileNodeAllowlist: b.file_node_allowlist }),
        ...(b.allowed_pools === undefined ? {} : { allowedPools: b.allowed_pools }),
      });
      if (updated === null) throw new ApiError('not_found', 'No account with this id.');
      ctx.auth.invalidate();
      return accountJson(updated);
    },
  );

  r.post(
    '/v1/admin/accounts/:id/webhook-secret',
    {
      schema: {
        tags,
        security,
        summary: 'Rotate the webhook secret; the old one keeps signing for overlap_s',
        params: idParams,
        body: z.strictObject({
          overlap_s: z
            .number()
            .int()
            .min(0)
            .max(7 * 86400)
            .default(86400),
        }),
        response: { 200: rotatedSecretSchema, ...errors },
      },
    },
    async (request) => {
      const secret = newWebhookSecret();
      const until = ctx.now() + request.body.overlap_s * 1000;
      const account = await ctx.store.rotateWebhookSecret(request.params.id, secret, until);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      return { webhook_secret: secret, previous_valid_until: new Date(until).toISOString() };
    },
  );

  r.post(
    '/v1/admin/accounts/:id/keys',
    {
      schema: {
        tags,
        security,
        params: idParams,
        body: createKeyBody,
        response: { 201: createdKeySchema, ...errors },
      },
    },
    async (request, reply) => {
      const account = await ctx.store.getAccount(request.params.id);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      const keyId = newId('key');
      const { key, hash } = mintApiKey(keyId);
      const record = await ctx.store.createApiKey(
        {
          id: keyId,
          accountId: account.id,
          name: request.body.name,
          hash,
          scopes: request.body.scopes ?? [...ALL_SCOPES],
        },
        ctx.now(),
      );
      return reply.code(201).send({ id: record.id, key, name: record.name, scopes: record.scopes });
    },
  );

  r.get(
    '/v1/admin/accounts/:id/keys',
    { schema: { tags, security, params: idParams, response: { 200: apiKeyListSchema, ...errors } } },
    async (request) => ({
      data: (await ctx.store.listApiKeys(request.params.id)).map((k) => ({
        id: k.id,
        name: k.name,
        scopes: k.scopes,
        created_at: new Date(k.createdAt).toISOString(),
        last_used_at: k.lastUsedAt === null ? null : new Date(k.lastUsedAt).toISOString(),
        revoked_at: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
      })),
    }),
  );

  r.delete(
    '/v1/admin/keys/:id',
    { schema: { tags, security, params: idParams, response: { 204: noContent, ...errors } } },
    async (request, reply) => {
      const revoked = await ctx.store.revokeApiKey(request.params.id, ctx.now());
      if (!revoked) throw new ApiError('not_found', 'No active key with this id.');
      ctx.auth.invalidate();
      return reply.code(204).send(null);
    },
  );

  r.put(
    '/v1/admin/templates/:name',
    { schema: { tags, security, response: { 200: templateSchema, ...errors } } },
    async (request) => {
      const params = z.object({ name: z.string() }).parse(request.params);
      const body = z.record(z.string(), z.unknown()).safeParse(request.body);
      return templateJson(await saveTemplate(ctx, { ...(body.success ? body.data : {}), name: params.name }));
    },
  );

  r.post(
    '/v1/admin/templates',
    { schema: { tags, security, response: { 201: templateSchema, ...errors } } },
    async (request, reply) => reply.code(201).send(templateJson(await saveTemplate(ctx, request.body))),
  );

  r.get(
    '/v1/admin/templates',
    { schema: { tags, security, response: { 200: templateListSchema, ...errors } } },
    async () => ({
      data: (await ctx.store.listTemplates()).map(templateJson),
    }),
  );

  r.delete(
    '/v1/admin/templates/:name',
    {
      schema: {
        tags,
        security,
        params: z.object({ name: z.string().min(1).max(128) }),
        response: { 204: noContent, ...errors },
      },
    },
    async (request, reply) => {
      if (!(await ctx.store.deleteTemplate(request.params.name)))
        throw new ApiError('not_found', 'No such template.');
      return reply.code(204).send(null);
    },
  );

  r.get(
    '/v1/admin/webhook-deliveries',
    {
      schema: {
        tags,
        security,
        querystring: z.strictObject({
          account_id: z.string().optional(),
          job_id: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const deliveries = await ctx.store.listWebhookDeliveries({
        ...(q.account_id === undefined ? {} : { accountId: q.account_id }),
        ...(q.job_id === undefined ? {} : { jobId: q.job_id }),
        limit: q.limit,
      });
      const data = [];
      for (const d of deliveries) {
        const attempts = await ctx.store.listWebhookAttempts(d.id);
        data.push({
          ...deliveryJson(d),
          attempt_log: attempts.map((a) => ({
            attempt: a.attempt,
            at: new Date(a.at).toISOString(),
            status_code: a.statusCode,
            error: a.error,
            duration_ms: a.durationMs,
          })),
        });
      }
      return { data };
    },
  );

  r.get(
    '/v1/admin/workers',
    { schema: { tags, security, response: { 200: workerListSchema, ...errors } } },
    async () => ({
      data: (await ctx.store.listWorkers({ includeStopped: false })).map((w) => ({
        id: w.id,
        name: w.name,
        pool: w.pool,
        kind: w.kind,
        status: w.status,
        comfy_url: w.comfyUrl,
        started_at: new Date(w.startedAt).toISOString(),
        last_seen_at: new Date(w.lastSeenAt).toISOString(),
        models_available: w.models?.available ?? [],
        models_warm: w.models?.warm ?? [],
        models_on_disk: w.models?.onDisk ?? [],
        model_switches: w.models?.switches ?? 0,
      })),
    }),
  );

  await adminModelRoutes(app, ctx.store);

  r.get(
    '/v1/admin/fleet/decisions',
    {
      schema: {
        tags,
        security,
        querystring: z.strictObject({
          pool: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
    },
    async (request) => ({
      data: (await ctx.store.listScalingDecisions(request.query.pool ?? null, request.query.limit)).map(
        (d) => ({
          ...d,
          at: new Date(d.at).toISOString(),
        }),
      ),
    }),
  );

  r.get('/v1/admin/fleet', { schema: { tags, security } }, async () =>
    ctx.fleetStatus === undefined ? { pools: [] } : await ctx.fleetStatus(),
  );

  r.post(
    '/v1/admin/reconcile',
    { schema: { tags, security, summary: 'Recount active-job counters' } },
    async () => ({
      repairs: await ctx.store.reconcileCounters(),
    }),
  );
}
