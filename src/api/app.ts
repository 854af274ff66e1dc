/**
 * The Fastify application: hooks (request ids, auth, metrics, JSON depth), the OpenAPI generator,
 * problem+json errors and every route. Built from explicit dependencies; listening is the caller's job.
 */
import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { ApiError } from '../errors.js';
import { Authenticator } from './auth/authenticate.js';
import { constantTimeEqual } from './auth/api-keys.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH, tooDeepError, valueTooDeep } from './body-limits.js';
import type { ApiContext, ApiDeps } from './context.js';
import { createMetrics } from './metrics.js';
import { registerMultipart } from './multipart-submit.js';
import { registerOpenApi } from './openapi/register.js';
import { installProblemHandlers } from './problem.js';
import { isLongPoll, requestLogOptions } from './request-log.js';
import { adminRoutes } from './routes/admin.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { jobRoutes } from './routes/jobs.js';
import { opsRoutes } from './routes/ops.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface Api {
  app: FastifyInstance;
  ctx: ApiContext;
  /** Stop answering /readyz 200 (load balancers drain us) and end open event streams, before closing. */
  drain(): void;
}

/**
 * Auth is chosen by the MATCHED route pattern, never by the raw URL: the router decodes `%61` to `a`, so a
 * raw-text check could be walked around with `/v1/%61dmin/...`.
 */
function isJobRoute(route: string): boolean {
  return route.startsWith('/v1/jobs') || route === '/v1/usage';
}

function logOptions(level: string): object {
  return {
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'],
      censor: '[redacted]',
    },
  };
}

function installHooks(app: FastifyInstance, ctx: ApiContext): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    const route = request.routeOptions.url ?? '';
    if (isJobRoute(route) && request.method !== 'OPTIONS') {
      request.principal = await ctx.auth.authenticate(request.headers);
    } else if (route.startsWith('/v1/admin')) {
      const key = ctx.config.adminKey;
      const header = request.headers.authorization ?? '';
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      if (key === undefined || presented === undefined || !constantTimeEqual(presented, key)) {
        throw new ApiError('unauthorized', 'The admin API needs Authorization: Bearer <admin key>.');
      }
    }
  });
  app.addHook('preValidation', async (request: FastifyRequest) => {
    // A backstop for parsers other than ours below; multipart bodies are checked as their parts are read.
    if (request.body !== undefined && valueTooDeep(request.body, MAX_JSON_DEPTH)) throw tooDeepError();
  });
  app.addHook('onResponse', async (request, reply) => {
    // A long poll's duration is how long nothing happened: it would drown the latency of real work.
    if (isLongPoll(request, reply)) return;
    ctx.metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
}

/** Builds the API (not listening). */
export async function buildApi(deps: ApiDeps): Promise<Api> {
  const ctx: ApiContext = {
    ...deps,
    auth: new Authenticator(deps.store, deps.now, deps.config.jwtMaxLifetimeS),
    metrics: deps.metrics ?? createMetrics({ jobsByStatus: () => deps.store.countJobsByStatus() }),
    streams: new Set(),
    streamCounts: new Map(),
  };
  let draining = false;
  const app = Fastify({
    ...(deps.log === undefined ? { logger: logOptions(deps.config.logLevel) } : { loggerInstance: deps.log }),
    ...requestLogOptions(),
    bodyLimit: Math.floor(deps.config.maxBodyMb * 1024 * 1024),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  // Many clients send `Content-Type: application/json` on a DELETE with no body; treat empty as absent.
  // The default parser (prototype-poisoning protection) handles everything else.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '') {
      done(null, undefined);
      return;
    }
    if (jsonTextTooDeep(text, MAX_JSON_DEPTH)) {
      done(tooDeepError(), undefined);
      return;
    }
    defaultJson(request, text, done);
  });
  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document the API (OpenAPI); responses are built by typed code, so they are serialised
  // without re-validating each one.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installProblemHandlers(app);
  await registerOpenApi(app);
  if (deps.config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...deps.config.corsOrigins],
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
  await registerMultipart(app, Math.floor(deps.config.maxBodyMb * 1024 * 1024));
  installHooks(app, ctx);
  await jobRoutes(app, ctx);
  await eventRoutes(app, ctx);
  if (deps.config.adminKey !== undefined) await adminRoutes(app, ctx);
  await opsRoutes(app, ctx, () => draining);
  await docsRoutes(app, ctx);
  for (const plugin of deps.plugins ?? []) await plugin(app);
  const drain = (): void => {
    draining = true;
    // Clients reconnect with Last-Event-ID to another replica and lose nothing.
    for (const finish of [...ctx.streams]) finish();
  };
  return { app, ctx, drain };
}
