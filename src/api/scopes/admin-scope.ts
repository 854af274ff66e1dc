/** The admin scope: the operator API under /v1/admin, behind `Authorization: Bearer <admin key>`. */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../../errors.js';
import { constantTimeEqual } from '../auth/api-keys.js';
import type { ApiContext } from '../context.js';
import { markScope, registerRouteFiles, type RouteFile } from './scope.js';

/** True when `authorization` presents exactly `adminKey` (compared in constant time). */
export function presentsAdminKey(authorization: string | undefined, adminKey: string | undefined): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  return adminKey !== undefined && presented !== undefined && constantTimeEqual(presented, adminKey);
}

/** An encapsulated plugin serving `files` behind the admin key. */
export function adminScope(ctx: ApiContext, files: readonly RouteFile[]): FastifyPluginAsync {
  return async (app) => {
    markScope(app, 'admin');
    app.addHook('onRequest', async (request) => {
      if (!presentsAdminKey(request.headers.authorization, ctx.config.adminKey)) {
        throw new ApiError('unauthorized', 'The admin API needs Authorization: Bearer <admin key>.');
      }
    });
    await registerRouteFiles(app, ctx, files);
  };
}
