/**
 * The worker scope: the worker API under /v1/worker, for remote agents. Every request presents a valid,
 * unrevoked worker token (`request.workerToken`); all but `register` also name a registered worker bound to
 * that token (`request.worker`). Both are checked on request, before a single body byte is read.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import type { Store, WorkerRecord, WorkerToken } from '../../store/contract.js';
import { markScope } from './scope.js';

declare module 'fastify' {
  interface FastifyRequest {
    workerToken: WorkerToken | null;
    worker: WorkerRecord | null;
  }
}

/** How the scope checks a worker's credentials (the worker tokens and protocol belong to the control plane). */
export interface WorkerCredentials {
  store: Pick<Store, 'getWorker'>;
  /** The token row when `presented` is a valid, unrevoked worker token; null otherwise. */
  verifyToken(presented: string): Promise<WorkerToken | null>;
  /** The header naming the registered worker on every call after `register`. */
  workerIdHeader: string;
}

/** A worker route file: registers its routes (paths relative to /v1/worker) on the scope it is given. */
export type WorkerRouteFile = (app: FastifyInstance) => Promise<void> | void;

export interface WorkerScopeFiles {
  /** Routes for a token holder that is not a worker yet (`register`). */
  token: readonly WorkerRouteFile[];
  /** Routes for a registered worker: everything else. */
  worker: readonly WorkerRouteFile[];
}

/** The caller's worker token (valid and unrevoked), else 401. */
async function authenticateToken(auth: WorkerCredentials, request: FastifyRequest): Promise<WorkerToken> {
  const header = request.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? await auth.verifyToken(header.slice(7).trim()) : null;
  if (token === null)
    throw new ApiError(
      'unauthorized',
      'Send Authorization: Bearer <worker token>; revoked tokens are refused.',
    );
  return token;
}

/** The registered worker the caller speaks for; it must have been registered with the same token. */
async function authenticateWorker(
  auth: WorkerCredentials,
  token: WorkerToken,
  request: FastifyRequest,
): Promise<WorkerRecord> {
  const id = request.headers[auth.workerIdHeader];
  const worker = typeof id === 'string' ? await auth.store.getWorker(id) : null;
  if (worker === null || worker.kind !== 'remote' || worker.providerRef !== token.id) {
    throw new ApiError(
      'unauthorized',
      `Unknown worker: register first and send its id in ${auth.workerIdHeader}.`,
    );
  }
  return worker;
}

/** The token of a request in the worker scope (set by the scope's hook). */
export function workerTokenOf(request: FastifyRequest): WorkerToken {
  const token = request.workerToken;
  if (token === null) throw new Error('worker token missing: route registered outside the worker scope');
  return token;
}

/** The worker of a request in the registered-worker part of the scope (set by its hook). */
export function workerOf(request: FastifyRequest): WorkerRecord {
  const worker = request.worker;
  if (worker === null)
    throw new Error('worker missing: route registered outside the registered-worker scope');
  return worker;
}

/** An encapsulated plugin serving `files` behind the worker token (and, for `files.worker`, a registered worker). */
export function workerScope(auth: WorkerCredentials, files: WorkerScopeFiles): FastifyPluginAsync {
  return async (app) => {
    markScope(app, 'worker');
    app.decorateRequest('workerToken', null);
    app.decorateRequest('worker', null);
    app.addHook('onRequest', async (request) => {
      request.workerToken = await authenticateToken(auth, request);
    });
    for (const file of files.token) await file(app);
    await app.register(async (registered) => {
      registered.addHook('onRequest', async (request) => {
        request.worker = await authenticateWorker(auth, workerTokenOf(request), request);
      });
      for (const file of files.worker) await file(registered);
    });
  };
}
