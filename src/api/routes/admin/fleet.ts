/** The fleet for operators: workers, the autoscaler's state and decisions, and the counter repair. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../../context.js';
import { workerListSchema } from '../../schemas.js';
import { adminDoc, adminErrors } from './shared.js';

/** Registers GET /v1/admin/workers. */
export async function workerListRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/admin/workers',
    { schema: { ...adminDoc, response: { 200: workerListSchema, ...adminErrors } } },
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
}

/** Registers the fleet status and decision log, and POST /v1/admin/reconcile. */
export async function fleetRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/admin/fleet/decisions',
    {
      schema: {
        ...adminDoc,
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

  r.get('/v1/admin/fleet', { schema: { ...adminDoc } }, async () =>
    ctx.fleetStatus === undefined ? { pools: [] } : await ctx.fleetStatus(),
  );

  r.post(
    '/v1/admin/reconcile',
    { schema: { ...adminDoc, summary: 'Recount active-job counters' } },
    async () => ({
      repairs: (await ctx.store.reconcileCounters()).map((r) => ({
        scope: r.scope,
        account_id: r.accountId,
        user_id: r.userId,
        was: r.was,
        now: r.now,
      })),
    }),
  );
}
