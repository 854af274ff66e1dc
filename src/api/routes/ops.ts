/** Operational endpoints: liveness, readiness, Prometheus metrics. No auth; expose them only inside. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { sendProblem } from '../problem.js';

/** Registers /healthz, /readyz and /metrics. `isDraining` makes /readyz fail during shutdown. */
export async function opsRoutes(app: FastifyInstance, ctx: ApiContext, isDraining: () => boolean): Promise<void> {
  const hide = { schema: { hide: true } };
  app.get('/healthz', hide, async () => ({ status: 'ok' }));
  app.get('/readyz', hide, async (_request, reply) => {
    if (isDraining()) return sendProblem(reply, 'not_ready', 'Shutting down.');
    const ready = await ctx.store.isReady().catch(() => false);
    if (!ready) return sendProblem(reply, 'not_ready', 'The database is unreachable or migrations are pending.');
    return { status: 'ready' };
  });
  app.get('/metrics', hide, async (_request, reply) =>
    reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  );
}
