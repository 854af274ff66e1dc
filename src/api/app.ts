/**
 * The Fastify application: hooks (request ids, metrics, JSON depth), the OpenAPI generator, problem+json
 * errors and every route, each in its auth scope. Built from explicit dependencies; listening is the caller's job.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { Authenticator } from './auth/authenticate.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH, tooDeepError, valueTooDeep } from './body-limits.js';
import { REQUEST_TIMEOUT_MS, type ApiContext, type ApiDeps } from './context.js';
import { JobLifecycle } from '../jobs/lifecycle/job-lifecycle.js';
import { EVENT_POLL_MS, JobEventPoll } from './event-poll.js';
import { createMetrics } from './metrics.js';
import { registerOpenApi } from './openapi/register.js';
import { installProblemHandlers } from './problem.js';
import { isLongPollRoute, requestLogOptions } from './request-log.js';
import { ADMIN_ROUTES, JOB_ROUTES, PUBLIC_ROUTES } from './route-table.js';
import { adminScope } from './scopes/admin-scope.js';
import { jobScope } from './scopes/job-scope.js';
import { publicScope } from './scopes/public-scope.js';
import { requireScopes } from './scopes/scope.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface Api {
  app: FastifyInstance;
  ctx: ApiContext;
  /** Stop answering /readyz 200 (load balancers drain us) and end open event streams, before closing. */
  drain(): void;
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

/**
 * The root hooks. Callback style, not async: they run on every request and none of them waits for anything,
 * so they cost no promise each.
 */
function installHooks(app: FastifyInstance, ctx: ApiContext, textChecked: WeakSet<object>): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('preValidation', (request: FastifyRequest, _reply, done) => {
    // A backstop for parsers other than our JSON one (which checked the text before parsing); multipart
    // bodies are checked as their parts are read.
    const body: unknown = request.body;
    if (body !== undefined && !textChecked.has(request) && valueTooDeep(body, MAX_JSON_DEPTH)) {
      done(tooDeepError());
      return;
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    // request.routeOptions builds a new object on each read: read it once.
    const route = request.routeOptions.url;
    // A long poll's duration is how long nothing happened: it would drown the latency of real work.
    if (!isLongPollRoute(route, reply)) {
      ctx.metrics.httpDuration.observe(
        { method: request.method, route: route ?? 'unmatched', status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    }
    done();
  });
}

/**
 * Every route lives in one encapsulated scope whose onRequest hook authenticates (scopes/); the route table
 * says which route file is in which. Unknown paths match no scope and answer 404 from the root.
 */
async function registerScopes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  requireScopes(app);
  const extra = ctx.extraRoutes ?? {};
  await app.register(jobScope(ctx, [...JOB_ROUTES, ...(extra.job ?? [])]));
  // Without an admin key there is no admin API at all: /v1/admin/... answers 404.
  if (ctx.config.adminKey !== undefined) {
    await app.register(adminScope(ctx, [...ADMIN_ROUTES, ...(extra.admin ?? [])]));
  }
  await app.register(publicScope(ctx, [...PUBLIC_ROUTES, ...(extra.public ?? [])]));
  // The worker API brings its own worker-token scope (routes/workers.ts).
  if (ctx.workerApi !== undefined) await app.register(ctx.workerApi, { prefix: '/v1/worker' });
}

/** Builds the API (not listening). */
export async function buildApi(deps: ApiDeps): Promise<Api> {
  let draining = false;
  const requestTimeoutMs = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    ...(deps.log === undefined ? { logger: logOptions(deps.config.logLevel) } : { loggerInstance: deps.log }),
    ...requestLogOptions(),
    bodyLimit: Math.floor(deps.config.maxBodyMb * 1024 * 1024),
    requestTimeout: requestTimeoutMs,
    // Given to Node when it creates the server too (set afterwards, a shorter one did not take), and Node looks
    // for requests past their timeout this often (30 s by default): at least twice per timeout.
    http: {
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(10, Math.floor(requestTimeoutMs / 2))),
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  const ctx: ApiContext = {
    ...deps,
    lifecycle: new JobLifecycle({
      store: deps.store,
      bus: deps.bus,
      now: deps.now,
      ...(deps.idleClaimers !== undefined && { idleClaimers: deps.idleClaimers }),
      observer: {
        admitted: (job, origin) => deps.onAdmitted?.(job, origin),
        ended: (job) => deps.onCancelledQueued?.(job),
      },
    }),
    // Its failed last_used_at writes are logged once per outage, on the process's logger.
    auth: new Authenticator(deps.store, deps.now, deps.config.jwtMaxLifetimeS, undefined, app.log),
    metrics: deps.metrics ?? createMetrics({ jobsByStatus: () => deps.store.countJobsByStatus() }),
    streams: new Set(),
    eventPoll: new JobEventPoll(deps.store, deps.eventPollMs ?? EVENT_POLL_MS, {
      warn: (details, message) => app.log.warn(details, message),
      info: (details, message) => app.log.info(details, message),
    }),
    streamCounts: new Map(),
    isDraining: () => draining,
  };
  // Many clients send `Content-Type: application/json` on a DELETE with no body; treat empty as absent.
  // The default parser (prototype-poisoning protection) handles everything else.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  /** Requests whose body our JSON parser read: its depth was checked on the text. */
  const textChecked = new WeakSet<object>();
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
    textChecked.add(request);
    defaultJson(request, text, done);
  });
  // Header schemas document the job routes' headers in OpenAPI; each header is checked where it is used (the
  // authenticator checks X-User-ID before validation runs), so they are not re-validated on every request.
  // `true`, not `{ value }`: a returned value would replace request.headers, and Fastify then copies every
  // header into a new object on each later read of request.headers.
  const documentedOnly = (): boolean => true;
  app.setValidatorCompiler((route: Parameters<typeof validatorCompiler>[0]) =>
    route.httpPart === 'headers' ? documentedOnly : validatorCompiler(route),
  );
  // Response schemas document the API (OpenAPI); responses are built by typed code, so they are serialised
  // without re-validating each one.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installProblemHandlers(app);
  await registerOpenApi(app);
  installHooks(app, ctx, textChecked);
  await registerScopes(app, ctx);
  app.addHook('onClose', (_app, done) => {
    ctx.eventPoll.stop();
    ctx.auth.stop();
    done();
  });
  const drain = (): void => {
    draining = true;
    ctx.eventPoll.stop();
    // Clients reconnect with Last-Event-ID to another replica and lose nothing.
    for (const finish of [...ctx.streams]) finish();
  };
  return { app, ctx, drain };
}
