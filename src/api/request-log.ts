/**
 * What a request leaves in the log: one `info` line when it completes (method, route, status, time), with
 * its request id and, when the caller sent a valid `traceparent`, its trace id. Health checks, metric scrapes,
 * long polls and worker chatter (heartbeats, progress) log at `debug`: at `info` they would bury every
 * job's lines under hundreds a minute.
 */
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { LogController } from 'fastify';
import { parseTraceparent } from './trace-context.js';

/** Routes (matched patterns) that hold the request open until something happens. */
export const LONG_POLL_ROUTES: ReadonlySet<string> = new Set([
  '/v1/jobs/:id/events',
  '/v1/worker/claim',
  '/v1/worker/jobs/:jobId/cancel',
]);

/** Routes logged at debug: probes, scrapes, long polls and the worker's periodic calls. */
const QUIET_ROUTES: ReadonlySet<string> = new Set([
  '/healthz',
  '/readyz',
  '/metrics',
  '/v1/worker/jobs/:jobId/heartbeat',
  '/v1/worker/jobs/:jobId/progress',
  ...LONG_POLL_ROUTES,
]);

/**
 * True for a request (on its matched `route`, `request.routeOptions.url`) that waited for an event rather than worked: its duration says how long nothing
 * happened, so it stays out of the request-duration histogram (`Prefer: wait` holds included).
 */
export function isLongPollRoute(route: string | undefined, reply: FastifyReply): boolean {
  return LONG_POLL_ROUTES.has(route ?? '') || reply.hasHeader('preference-applied');
}

/** One line per request, at the level its route deserves. */
class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url }, 'request received');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const route = request.routeOptions.url;
    const details = {
      method: request.method,
      route: route ?? request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error !== null && error !== undefined) {
      reply.log.error({ ...details, err: error }, 'request errored');
    } else if (route !== undefined && QUIET_ROUTES.has(route) && reply.statusCode < 500) {
      reply.log.debug(details, 'request completed');
    } else {
      reply.log.info(details, 'request completed');
    }
  }
}

/** Fastify options for request logging: our controller, `requestId` bindings and the caller's trace id. */
export function requestLogOptions(): Pick<FastifyServerOptions, 'logController' | 'childLoggerFactory'> {
  return {
    logController: new RequestLog({ requestIdLogLabel: 'requestId' }),
    childLoggerFactory: (logger, bindings, options, raw) => {
      const trace = parseTraceparent(raw.headers.traceparent);
      return logger.child(trace === null ? bindings : { ...bindings, traceId: trace.traceId }, options);
    },
  };
}

/** The ids a job carries from the request that admitted it into later log lines. */
export function requestOrigin(request: FastifyRequest): { requestId: string; traceId: string | null } {
  return {
    requestId: request.id,
    traceId: parseTraceparent(request.headers.traceparent)?.traceId ?? null,
  };
}
