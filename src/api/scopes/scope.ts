/**
 * Auth by encapsulation: every route is registered inside one scope (public, job, admin, worker), an
 * encapsulated Fastify plugin whose own onRequest hook authenticates; a route inherits the auth of the scope
 * it is registered in, so a new route file needs no auth code and cannot forget it.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiContext, RouteFile } from '../context.js';

export type { RouteFile };
export type ScopeName = 'public' | 'job' | 'admin' | 'worker';

const SCOPE = 'authScope';

/** Marks `app` (a scope's encapsulated instance) so the root guard sees its routes are covered. */
export function markScope(app: FastifyInstance, name: ScopeName): void {
  app.decorate(SCOPE, name);
}

/**
 * Installs, at the root, the guard that fails the start when a route is registered outside every scope:
 * such a route would run with no auth at all. Hooks see `this` = the instance the route is registered on,
 * which inherits its scope's decoration.
 */
export function requireScopes(app: FastifyInstance): void {
  app.addHook('onRoute', function (route) {
    if (!this.hasDecorator(SCOPE)) {
      throw new Error(
        `Route ${String(route.method)} ${route.url} is registered outside every auth scope; add its route file to a scope in src/api/route-table.ts.`,
      );
    }
  });
}

/** Runs each route file on `app` with `ctx`, in order. */
export async function registerRouteFiles(
  app: FastifyInstance,
  ctx: ApiContext,
  files: readonly RouteFile[],
): Promise<void> {
  for (const file of files) await file(app, ctx);
}
