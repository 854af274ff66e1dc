/**
 * The job scope: end-user endpoints. Every request carries an account key with X-User-ID or an end-user
 * JWT (`request.principal`); browser origins listed in `--cors-origin` may call them.
 */
import cors from '@fastify/cors';
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.js';
import { markScope, registerRouteFiles, type RouteFile } from './scope.js';

/** An encapsulated plugin serving `files` behind end-user auth (and CORS when configured). */
export function jobScope(ctx: ApiContext, files: readonly RouteFile[]): FastifyPluginAsync {
  return async (app) => {
    markScope(app, 'job');
    if (ctx.config.corsOrigins.length > 0) {
      // Its preflight route (OPTIONS *) lives here too; the router is shared, so it answers every path.
      await app.register(cors, {
        origin: [...ctx.config.corsOrigins],
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: [
          'authorization',
          'content-type',
          'idempotency-key',
          'last-event-id',
          'prefer',
          'traceparent',
          'x-user-id',
        ],
        exposedHeaders: ['location', 'preference-applied', 'retry-after', 'x-request-id'],
        maxAge: 600,
      });
    }
    app.addHook('onRequest', async (request) => {
      // A CORS preflight carries no credentials by design.
      if (request.method === 'OPTIONS') return;
      request.principal = await ctx.auth.authenticate(request.headers);
    });
    await registerRouteFiles(app, ctx, files);
  };
}
