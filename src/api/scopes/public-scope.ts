/** The public scope: probes, metrics and the API reference. No auth (expose /metrics only inside). */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.js';
import { markScope, registerRouteFiles, type RouteFile } from './scope.js';

/** An encapsulated plugin serving `files` without credentials. */
export function publicScope(ctx: ApiContext, files: readonly RouteFile[]): FastifyPluginAsync {
  return async (app) => {
    markScope(app, 'public');
    await registerRouteFiles(app, ctx, files);
  };
}
