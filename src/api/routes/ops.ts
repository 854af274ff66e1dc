/** Operational endpoints: liveness, readiness, Prometheus metrics. No auth; expose them only inside. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { sendProblem } from '../problem.js';

/** A readiness answer is reused this long: load balancers probing every 100 ms cost one query a second. */
const READY_CACHE_MS = 1000;
/** A database that does not answer within this is unreachable (a blackholed host never refuses). */
const READY_TIMEOUT_MS = 2000;

/** `check` at most once per READY_CACHE_MS, one call in flight at a time, never longer than the timeout. */
export function cachedProbe(
  check: () => Promise<boolean>,
  now: () => number = Date.now,
): () => Promise<boolean> {
  let last: { at: number; ready: boolean } | null = null;
  let inFlight: Promise<boolean> | null = null;
  const probe = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
    });
    try {
      return await Promise.race([check().catch(() => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  return async () => {
    if (last !== null && now() - last.at < READY_CACHE_MS) return last.ready;
    inFlight ??= probe().then((ready) => {
      last = { at: now(), ready };
      inFlight = null;
      return ready;
    });
    return await inFlight;
  };
}

/** Registers /healthz, /readyz and /metrics. `ctx.isDraining` makes /readyz fail during shutdown. */
export async function opsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const hide = { schema: { hide: true } };
  const databaseReady = cachedProbe(() => ctx.store.isReady());
  app.get('/healthz', hide, async () => ({ status: 'ok' }));
  app.get('/readyz', hide, async (_request, reply) => {
    if (ctx.isDraining()) return sendProblem(reply, 'not_ready', 'Shutting down.');
    if (!(await databaseReady())) {
      return sendProblem(reply, 'not_ready', 'The database is unreachable or migrations are pending.');
    }
    return { status: 'ready' };
  });
  app.get('/metrics', hide, async (_request, reply) =>
    reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  );
}
