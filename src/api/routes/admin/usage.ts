/** GET /v1/admin/accounts/{id}/usage: an account's finished jobs, run time and attributed cost per pool. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../../errors.js';
import { accountCost } from '../../../fleet/usage-cost.js';
import type { ApiContext } from '../../context.js';
import { accountUsageSchema } from '../../schemas.js';
import { adminDoc, adminErrors, idParams } from './shared.js';

/** Start of the UTC day of `now` (ms). */
function startOfUtcDay(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}

/** Registers the usage route. */
export async function usageRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/admin/accounts/:id/usage',
    {
      schema: {
        ...adminDoc,
        summary: "An account's finished jobs, GPU run time and attributed cost per pool",
        description:
          'Cost of a job = its run seconds × the pool price × (1 + the pool idle seconds billed per busy second).',
        params: idParams,
        querystring: z.strictObject({ since: z.iso.datetime().optional() }),
        response: { 200: accountUsageSchema, ...adminErrors },
      },
    },
    async (request) => {
      const account = await ctx.store.getAccount(request.params.id);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      const since =
        request.query.since === undefined ? startOfUtcDay(ctx.now()) : Date.parse(request.query.since);
      const pricing = ctx.poolPricing?.() ?? new Map();
      const usage = accountCost(await ctx.store.accountUsage(account.id, since), (pool) => pricing.get(pool));
      return {
        account_id: account.id,
        since: new Date(since).toISOString(),
        pools: usage.pools.map((p) => ({
          pool: p.pool,
          jobs: p.jobs,
          run_seconds: p.runSeconds,
          cost: p.cost,
        })),
        jobs: usage.jobs,
        run_seconds: usage.runSeconds,
        cost: usage.cost,
      };
    },
  );
}
