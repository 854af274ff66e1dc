/**
 * The job scope: end-user endpoints. Every request carries an account key with X-User-ID or an end-user
 * JWT (`request.principal`); browser origins listed in `--cors-origin` may call them.
 */
import cors from '@fastify/cors';
import type { FastifyPluginAsync } from 'fastify';
import type { Principal } from '../auth/authenticate.js';
import type { ApiContext } from '../context.js';
import { markScope, registerRouteFiles, type RouteFile } from './scope.js';

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

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
    // Callback style: a key found in the cache is checked without a promise (Authenticator.resolve).
    app.addHook('onRequest', (request, _reply, done) => {
      // A CORS preflight carries no credentials by design.
      if (request.method === 'OPTIONS') {
        done();
        return;
      }
      let resolved: Principal | Promise<Principal>;
      try {
        resolved = ctx.auth.resolve(request.headers);
      } catch (err) {
        done(asError(err));
        return;
      }
      if (!(resolved instanceof Promise)) {
        request.principal = resolved;
        done();
        return;
      }
      resolved.then(
        (principal) => {
          request.principal = principal;
          done();
        },
        (err: unknown) => done(asError(err)),
      );
    });
    await registerRouteFiles(app, ctx, files);
  };
}
