/** What the HTTP layer is given: every dependency passed in, nothing global. */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { IdleClaimers } from '../jobs/lifecycle/idle-claimers.js';
import type { Config } from '../config/load.js';
import type { Job } from '../jobs/types.js';
import type { EventBus } from '../events/bus.js';
import type { JobLifecycle } from '../jobs/lifecycle/job-lifecycle.js';
import type { RecentCompletions } from '../jobs/recent-completions.js';
import type { Authenticator, Principal } from './auth/authenticate.js';
import type { JobEventPoll } from './event-poll.js';
import type { Metrics } from './metrics.js';
import type { SubmitDeps } from './submit-job.js';

/** Everything submission needs (SubmitDeps) plus the whole config, the bus and serve's extras. */
export interface ApiDeps extends Omit<SubmitDeps, 'config' | 'lifecycle'> {
  config: Config;
  bus: EventBus;
  /** Route files serve adds to the core ones (route-table.ts), by the scope whose auth they run behind. */
  extraRoutes?: { public?: readonly RouteFile[]; job?: readonly RouteFile[]; admin?: readonly RouteFile[] };
  /** The worker API (routes/workers.ts, its own worker-token scope), mounted at /v1/worker when given. */
  workerApi?: FastifyPluginAsync;
  /**
   * Called after each admission, before the job's pool is woken (log; URL inputs get fetched at once).
   * Must not throw.
   */
  onAdmitted?: (job: Job, origin?: { requestId: string; traceId: string | null }) => void;
  /** Called when an owner's cancel ended a queued job at once, before it is announced (log, metrics). */
  onCancelledQueued?: (job: Job) => void;
  /** The process's logger (request lines go to it); a new one at the configured level when absent. */
  log?: import('fastify').FastifyBaseLogger;
  /** The metrics registry, when the caller wires more sources into it than the job counts. */
  metrics?: Metrics;
  /** Fleet state for the admin API, when a fleet runs. */
  fleetStatus?: () => Promise<unknown>;
  /** Per pool: price per GPU-second and idle seconds billed per busy second (cost attribution). */
  poolPricing?: () => ReadonlyMap<string, PoolPricing>;
  /** How long a client may take to send a whole request, headers and body (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** How often open event streams' jobs are checked for events no bus message told of (default EVENT_POLL_MS). */
  eventPollMs?: number;
  /**
   * The jobs this replica completed recently (filled by the worker service): the output download asks it
   * before the store. Absent: every download reads the store.
   */
  recentCompletions?: RecentCompletions;
  /**
   * This process's claims waiting for work (the worker service's): an admission may claim for the longest-waiting
   * one in its own commit (jobs/lifecycle/idle-claimers.ts). Absent: admissions wake workers through the bus.
   */
  idleClaimers?: IdleClaimers;
}

/**
 * Node's own default (5 minutes), which Fastify turns off unless told: without it a client trickling a body
 * (an upload at a byte a second) holds its connection and the body read so far for as long as it likes. A long
 * answer (an event stream, a `Prefer: wait` hold) is not bound by it: the request itself has arrived.
 */
export const REQUEST_TIMEOUT_MS = 300_000;

export interface PoolPricing {
  pricePerGpuSecond: number;
  idlePerBusySecond: number;
}

/** A route file: registers its routes on the scope it is given. The scope, not the file, decides auth. */
export type RouteFile = (app: FastifyInstance, ctx: ApiContext) => Promise<void>;

export interface ApiContext extends ApiDeps {
  /** Admission and cancel, on the store and bus above, telling onAdmitted / onCancelledQueued. */
  lifecycle: JobLifecycle;
  auth: Authenticator;
  metrics: Metrics;
  /** Open SSE streams' and `Prefer: wait` holds' finish functions, so shutdown can end them at once. */
  streams: Set<() => void>;
  /** The open SSE streams' safety poll: one read per period for all of them (event-poll.ts). */
  eventPoll: JobEventPoll;
  /** Open SSE streams per `account` and per `account/user` key on this replica (caps). */
  streamCounts: Map<string, number>;
  /** True once shutdown began: /readyz fails so load balancers drain this replica. */
  isDraining: () => boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The authenticated principal of a job route (set by the auth hook). */
export function principalOf(request: FastifyRequest): Principal {
  const p = request.principal;
  if (p === null) throw new Error('principal missing: route registered without the auth hook');
  return p;
}
